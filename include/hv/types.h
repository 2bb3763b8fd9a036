/* Fixed-width types and address-space types. Distinct typedefs document which address space a value lives in;
 * they are plain integers, so mixing them is caught by review and naming, not by the compiler. */
#ifndef HV_TYPES_H
#define HV_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

typedef u64 hpa_t; /* host physical address */
typedef u64 hfn_t; /* host frame number (hpa >> 12) */
typedef u64 gpa_t; /* guest physical address */
typedef u64 gfn_t; /* guest frame number */
typedef u64 gva_t; /* guest virtual address */

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define HUGE_2M_SHIFT 21
#define HUGE_2M_SIZE (1ULL << HUGE_2M_SHIFT)
#define HUGE_1G_SHIFT 30
#define HUGE_1G_SIZE (1ULL << HUGE_1G_SHIFT)

#endif
