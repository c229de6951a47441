/*
 * 0-db command handlers and the helpers they share
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_COMMANDS_H
#define ZS_COMMANDS_H

#include "server.h"
#include "store.h"

typedef void CmdFn(Client *c, Request *req);

/* 0-db's command_args_validate(): exact count, empty args refused */
bool cmd_args(Client *c, Request *req, int expected, bool allow_empty);
/* Answers 0-db's error for a frozen namespace; false then */
bool check_frozen(Client *c);
/* 0-db's command_admin_authorized() */
bool cmd_admin(Client *c);
/*
 * A namespace name argument as a C string, like 0-db's sprintf("%.*s")
 * (an embedded NUL ends it).  Answers "-Namespace too long" over 128.
 */
bool cmd_ns_name(Client *c, const Arg *a, char out[ZS_NS_NAME_MAX + 1]);
/* Copy a short argument as a C string (truncated to size - 1) */
void cmd_cstr(const Arg *a, char *out, size_t size);

/* cmd_data.c */
CmdFn cmd_set, cmd_get, cmd_mget, cmd_del, cmd_exists, cmd_check, cmd_dbsize;
/* cmd_ns.c */
CmdFn cmd_select, cmd_nsnew, cmd_nsdel, cmd_nslist, cmd_nsset, cmd_nsinfo;
CmdFn cmd_reload, cmd_flush;
/* cmd_scan.c */
CmdFn cmd_scan, cmd_rscan, cmd_keycur, cmd_length, cmd_keytime, cmd_nsjump;
/* cmd_auth.c */
CmdFn cmd_auth;
bool auth_secure_check(Client *c, const Arg *hash, const char *password);
/* cmd_sys.c */
CmdFn cmd_ping, cmd_time, cmd_info, cmd_stop, cmd_asterisk, cmd_missing;

#endif
