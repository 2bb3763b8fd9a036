/* The host's legacy PICs: remapped and masked at boot. */
#ifndef DRIVERS_I8259_H
#define DRIVERS_I8259_H

void i8259_disable(void);

#endif
