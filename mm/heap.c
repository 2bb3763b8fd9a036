/* The kmalloc-style heap (see heap.h). Both kinds of allocation start with a 64-byte header at a page boundary:
 *
 *   slab page:    [ header | obj 0 | obj 1 | ... | slack ]        one size class, free bitmap in the header
 *   large block:  [ header | user data ...               ]        2^order frames, the pointer is block + 64
 *
 * so heap_free finds the header by rounding the pointer down to its page, and everything else it needs to judge
 * the pointer is there. The header's cookie (its own address XOR the owning heap's) makes user data that merely
 * contains a magic value, or a header copied elsewhere, fail the check.
 *
 * Locking: h->lock protects the lists, every header of a page the heap holds, and the stats. It is never held
 * across frame_alloc() or frame_free(), so the frame allocator may take any lock of its own. */
#include "mm/heap.h"

#include "hv/bug.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/platform.h"
#include "hv/string.h"

#define HEAP_SLAB_MAGIC	 0x534c4142u /* "SLAB" */
#define HEAP_LARGE_MAGIC 0x4c415247u /* "LARG" */
#define HEAP_DEAD_MAGIC	 0x44454144u /* "DEAD": page released back to the frame allocator by this heap */

#define SLAB_MAX_OBJS ((PAGE_SIZE - HEAP_HDR_SIZE) / 16)

struct heap_slab {
	u32 magic;
	u8 cls;
	u8 nobjs;
	u16 nfree;
	u64 cookie;
	struct heap_slab *next, *prev;		 /* on h->partial[cls] while 0 < nfree < nobjs */
	u64 free_map[(SLAB_MAX_OBJS + 63) / 64]; /* bit i set: object i is free */
};

struct heap_large {
	u32 magic;
	u8 order;
	u8 pad[3];
	u64 cookie;
	u8 pad2[HEAP_HDR_SIZE - 16];
};

static_assert(sizeof(struct heap_slab) == HEAP_HDR_SIZE, "slab header is one 64-byte slot");
static_assert(sizeof(struct heap_large) == HEAP_HDR_SIZE, "large header is one 64-byte slot");
static_assert(SLAB_MAX_OBJS <= 255, "nobjs is a u8");
static_assert(offsetof(struct heap_slab, cookie) == offsetof(struct heap_large, cookie), "dead pages are judged alike");

static const u16 class_size[HEAP_NR_CLASSES] = {16, 32, 64, 128, 256, 512, 1024, HEAP_MAX_SMALL};

static_assert(HEAP_MAX_SMALL % HEAP_MIN_ALIGN == 0, "objects stay 16-byte aligned");
static_assert(2 * HEAP_MAX_SMALL + HEAP_HDR_SIZE <= PAGE_SIZE, "two top-class objects fit a slab page");

/* The result of judging a pointer: what it is, or why it is not a live object. */
struct heap_ref {
	struct heap_slab *slab; /* slab object: its page and index */
	unsigned int idx;
	struct heap_large *large; /* large allocation: its header */
	size_t size;		  /* usable bytes */
};

static u64 heap_cookie(const struct heap *h, const void *hdr)
{
	return (u64)(uintptr_t)hdr ^ (u64)(uintptr_t)h;
}

static unsigned int size_to_class(size_t size)
{
	unsigned int c = 0;

	while (class_size[c] < size)
		c++;
	return c;
}

static unsigned int size_to_order(size_t size)
{
	unsigned int order = 0;

	while ((PAGE_SIZE << order) - HEAP_HDR_SIZE < size)
		order++;
	return order;
}

static void *slab_obj(struct heap_slab *s, unsigned int idx)
{
	return (u8 *)s + HEAP_HDR_SIZE + (size_t)idx * class_size[s->cls];
}

void heap_init(struct heap *h)
{
	spin_lock_init(&h->lock);
	for (unsigned int c = 0; c < HEAP_NR_CLASSES; c++) {
		h->partial[c] = NULL;
		h->cached[c] = NULL;
	}
	h->bytes_in_use = 0;
	h->live_objects = 0;
	h->pages_held = 0;
}

static void __partial_push(struct heap *h, struct heap_slab *s)
{
	assert_spin_held(&h->lock);
	s->prev = NULL;
	s->next = h->partial[s->cls];
	if (s->next)
		s->next->prev = s;
	h->partial[s->cls] = s;
}

static void __partial_del(struct heap *h, struct heap_slab *s)
{
	assert_spin_held(&h->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		h->partial[s->cls] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

/* Turn a fresh frame into an empty slab of class cls, on the partial list. */
static void __slab_add(struct heap *h, unsigned int cls, void *page)
{
	struct heap_slab *s = page;
	unsigned int nobjs = (PAGE_SIZE - HEAP_HDR_SIZE) / class_size[cls];

	assert_spin_held(&h->lock);
	memset(s, 0, sizeof(*s));
	s->magic = HEAP_SLAB_MAGIC;
	s->cls = cls;
	s->nobjs = nobjs;
	s->nfree = nobjs;
	s->cookie = heap_cookie(h, s);
	for (unsigned int i = 0; i < nobjs; i++)
		s->free_map[i / 64] |= 1ULL << (i % 64);
	__partial_push(h, s);
	h->pages_held++;
}

/* An object of class cls from a partial or the cached slab, or NULL if the class has no free object. */
static void *__slab_alloc(struct heap *h, unsigned int cls)
{
	struct heap_slab *s = h->partial[cls];
	unsigned int w, idx;

	assert_spin_held(&h->lock);
	if (!s) {
		s = h->cached[cls];
		if (!s)
			return NULL;
		h->cached[cls] = NULL;
		__partial_push(h, s);
	}
	for (w = 0; !s->free_map[w]; w++)
		;
	idx = w * 64 + __builtin_ctzll(s->free_map[w]);
	BUG_ON(idx >= s->nobjs);
	s->free_map[w] &= ~(1ULL << (idx % 64));
	if (--s->nfree == 0)
		__partial_del(h, s);
	h->bytes_in_use += class_size[cls];
	h->live_objects++;
	return slab_obj(s, idx);
}

static void *large_alloc(struct heap *h, size_t size)
{
	unsigned int order = size_to_order(size);
	struct heap_large *l;
	hpa_t pa;

	pa = frame_alloc(order);
	if (pa == INVALID_HPA)
		return NULL;
	l = phys_to_virt(pa);
	spin_lock(&h->lock);
	memset(l, 0, sizeof(*l));
	l->magic = HEAP_LARGE_MAGIC;
	l->order = order;
	l->cookie = heap_cookie(h, l);
	h->bytes_in_use += (PAGE_SIZE << order) - HEAP_HDR_SIZE;
	h->live_objects++;
	h->pages_held += 1ULL << order;
	spin_unlock(&h->lock);
	return (u8 *)l + HEAP_HDR_SIZE;
}

void *heap_alloc(struct heap *h, size_t size)
{
	unsigned int cls;
	void *obj;
	hpa_t pa;

	if (!size || size > HEAP_MAX_ALLOC)
		return NULL;
	if (size > HEAP_MAX_SMALL)
		return large_alloc(h, size);

	cls = size_to_class(size);
	spin_lock(&h->lock);
	obj = __slab_alloc(h, cls);
	spin_unlock(&h->lock);
	if (obj)
		return obj;

	pa = frame_alloc(0);
	if (pa == INVALID_HPA)
		return NULL;
	spin_lock(&h->lock);
	/* Another CPU may have added a slab meanwhile; the new one is used anyway, and cached once empty. */
	__slab_add(h, cls, phys_to_virt(pa));
	obj = __slab_alloc(h, cls);
	spin_unlock(&h->lock);
	return obj;
}

/*
 * Judge p. Returns NULL and fills *ref for a live object of this heap, or the reason it is not one. p must lie in
 * mapped memory, since its page's first bytes are read; any such pointer is safe to pass.
 */
static const char *__lookup(struct heap *h, const void *p, struct heap_ref *ref)
{
	const u8 *page = (const u8 *)ALIGN_DOWN((uintptr_t)p, PAGE_SIZE);
	const u32 magic = *(const u32 *)page;
	uintptr_t off = (const u8 *)p - page;

	assert_spin_held(&h->lock);
	memset(ref, 0, sizeof(*ref));
	if (magic == HEAP_SLAB_MAGIC) {
		struct heap_slab *s = (struct heap_slab *)page;
		size_t size;

		if (s->cookie != heap_cookie(h, s) || s->cls >= HEAP_NR_CLASSES)
			return "not a pointer from this heap";
		size = class_size[s->cls];
		if (off < HEAP_HDR_SIZE)
			return "pointer into a slab page's header";
		if ((off - HEAP_HDR_SIZE) / size >= s->nobjs)
			return "pointer past a slab page's last object";
		if ((off - HEAP_HDR_SIZE) % size)
			return "pointer into the middle of a slab object";
		ref->slab = s;
		ref->idx = (off - HEAP_HDR_SIZE) / size;
		ref->size = size;
		if (s->free_map[ref->idx / 64] & (1ULL << (ref->idx % 64)))
			return "double free of a slab object";
		return NULL;
	}
	if (magic == HEAP_LARGE_MAGIC) {
		struct heap_large *l = (struct heap_large *)page;

		if (l->cookie != heap_cookie(h, l) || l->order > HEAP_MAX_ORDER)
			return "not a pointer from this heap";
		if (off != HEAP_HDR_SIZE)
			return "pointer into the middle of a large allocation";
		ref->large = l;
		ref->size = (PAGE_SIZE << l->order) - HEAP_HDR_SIZE;
		return NULL;
	}
	if (magic == HEAP_DEAD_MAGIC && ((const struct heap_large *)page)->cookie == heap_cookie(h, page))
		return "double free: the page was already released";
	return "not a pointer from this heap";
}

/* Free the object ref names. Returns the page (and its order) to hand back to the frame allocator, if any. */
static void *__release(struct heap *h, const struct heap_ref *ref, unsigned int *order)
{
	struct heap_slab *s = ref->slab;

	assert_spin_held(&h->lock);
	h->bytes_in_use -= ref->size;
	h->live_objects--;
	if (ref->large) {
		*order = ref->large->order;
		ref->large->magic = HEAP_DEAD_MAGIC;
		h->pages_held -= 1ULL << *order;
		return ref->large;
	}

	s->free_map[ref->idx / 64] |= 1ULL << (ref->idx % 64);
	if (s->nfree++ == 0)
		__partial_push(h, s);
	if (s->nfree < s->nobjs)
		return NULL;
	__partial_del(h, s);
	if (!h->cached[s->cls]) {
		h->cached[s->cls] = s;
		return NULL;
	}
	s->magic = HEAP_DEAD_MAGIC;
	h->pages_held--;
	*order = 0;
	return s;
}

int heap_free(struct heap *h, void *p)
{
	struct heap_ref ref;
	const char *why;
	void *page = NULL;
	unsigned int order = 0;

	if (!p)
		return 0;
	spin_lock(&h->lock);
	why = __lookup(h, p, &ref);
	if (!why)
		page = __release(h, &ref, &order);
	spin_unlock(&h->lock);
	if (why) {
		pr_err("heap: rejected free of %p: %s\n", p, why);
		return -EINVAL;
	}
	if (page)
		frame_free(virt_to_phys(page), order);
	return 0;
}

size_t heap_usable_size(struct heap *h, const void *p)
{
	struct heap_ref ref;
	size_t size;

	if (!p)
		return 0;
	spin_lock(&h->lock);
	size = __lookup(h, p, &ref) ? 0 : ref.size;
	spin_unlock(&h->lock);
	return size;
}

u64 heap_trim(struct heap *h)
{
	struct heap_slab *release[HEAP_NR_CLASSES];
	unsigned int n = 0;

	spin_lock(&h->lock);
	for (unsigned int c = 0; c < HEAP_NR_CLASSES; c++) {
		struct heap_slab *s = h->cached[c];

		if (!s)
			continue;
		h->cached[c] = NULL;
		s->magic = HEAP_DEAD_MAGIC;
		release[n++] = s;
	}
	h->pages_held -= n;
	spin_unlock(&h->lock);

	for (unsigned int i = 0; i < n; i++)
		frame_free(virt_to_phys(release[i]), 0);
	return n;
}

void heap_get_stats(struct heap *h, struct heap_stats *out)
{
	spin_lock(&h->lock);
	out->bytes_in_use = h->bytes_in_use;
	out->live_objects = h->live_objects;
	out->pages_held = h->pages_held;
	spin_unlock(&h->lock);
}
