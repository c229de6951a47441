/*
 * Fault injection for tests: the ZDBTEST command and its state
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_FAULT_H
#define ZS_FAULT_H

#include "server.h"

#define FAULT_GARBAGE_MAX 256
#define FAULT_DELAY_MAX_US 60000000ULL     /* a minute */

typedef struct Faults {
    int64_t hang_until;         /* now_ms() before which nothing is answered */
    int64_t refuse_until;       /* accept-and-close until then; -1: forever */
    uint64_t fail_writes;       /* SET/DEL left to fail */
    uint64_t garbage;           /* replies left to replace by garbage */
    unsigned char garbage_bytes[FAULT_GARBAGE_MAX];
    size_t garbage_len;
    uint64_t drop_after;        /* commands left before dropping all; 0: off */
    uint64_t delay_us;          /* hold every reply back this long; 0: off */
    uint64_t stall_reads;       /* reads left to stall as 0-db's may */
} Faults;

extern Faults faults;

void fault_init(void);
void fault_clear(void);

bool fault_hanging(int64_t now);
bool fault_refusing(int64_t now);
/* Earliest time a fault ends, for the event loop's timeout; -1: none */
int64_t fault_deadline(int64_t now);

/* Consume one injected write failure, if any is left */
bool fault_take_write_failure(void);
/* Consume one garbage reply, if any is left */
bool fault_take_garbage(void);
/* Called after every command but ZDBTEST: counts down DROPAFTER */
void fault_after_command(void);

/* Flush what is queued, then close every client connection */
void fault_drop_all(void);

void cmd_zdbtest(Client *c, Request *req);

#endif
