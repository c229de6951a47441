/*
 * Persistence: an append-only log of every change
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_AOF_H
#define ZS_AOF_H

#include "store.h"

/* Open (or create) DIR/zdb-server.aof and replay it into the store */
bool aof_open(const char *dir);
void aof_close(void);

/*
 * Each call appends one record with write() before it returns, and
 * fdatasync()s it with --sync, so the caller may acknowledge the change.
 * Without --data they do nothing.  false: the record could not be written.
 */
bool aof_set(const Namespace *ns, const void *key, size_t klen,
             const void *val, size_t vlen, uint32_t timestamp);
bool aof_del(const Namespace *ns, const void *key, size_t klen);
bool aof_nsnew(const char *name);
bool aof_nsset(const char *name, const char *prop, const char *value);
bool aof_nsdel(const char *name);
bool aof_jump(const char *name);

#endif
