/*
 * AUTH and the SECURE challenge (0-db v2.0.7, zdbd/commands_auth.c)
 *
 *   AUTH password                admin login (--admin)
 *   AUTH SECURE CHALLENGE        answers +<16 hex nonce> for this client
 *   AUTH SECURE <sha1 hex>       admin login, sha1("nonce:password")
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include "commands.h"
#include "sha1.h"

#define HASH_HEX_LEN 40
#define AUTH_PASSWORD_MAX 128

static void new_nonce(Client *c)
{
    unsigned char r[8];
    size_t got = 0;
    int i;

    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

        if (n > 0) {
            got += n;
        }
    }
    for (i = 0; i < 8; i++) {
        snprintf(c->nonce + i * 2, 3, "%02x", r[i]);
    }
    c->has_nonce = true;
}

/*
 * Check a SECURE hash against sha1("nonce:password").  Answers the error
 * itself; on success answers nothing.  SELECT keeps the nonce, AUTH
 * drops it (as 0-db does).
 */
bool auth_secure_check(Client *c, const Arg *hash, const char *password)
{
    char text[64 + AUTH_PASSWORD_MAX * 2], expected[41];
    char got[HASH_HEX_LEN + 1];

    if (!c->has_nonce) {
        reply_error(c, "No CHALLENGE requested, secure authentication not "
                       "available");
        return false;
    }
    if (hash->len != HASH_HEX_LEN) {
        reply_error(c, "Invalid hash length");
        return false;
    }
    snprintf(text, sizeof(text), "%s:%s", c->nonce, password);
    sha1_hex(text, strlen(text), expected);
    cmd_cstr(hash, got, sizeof(got));
    if (strcmp(got, expected) != 0) {
        reply_error(c, "Access denied");
        return false;
    }
    return true;
}

static void auth_regular(Client *c, Request *req)
{
    char pw[AUTH_PASSWORD_MAX + 1];

    if (!config.admin) {
        reply_error(c, "Authentication disabled");
        return;
    }
    if (!cmd_args(c, req, 2, false)) {
        return;
    }
    if (req->argv[1].len > AUTH_PASSWORD_MAX) {
        reply_error(c, "Password too long");
        return;
    }
    cmd_cstr(&req->argv[1], pw, sizeof(pw));
    if (strcmp(pw, config.admin) != 0) {
        reply_error(c, "Access denied");
        return;
    }
    c->admin = true;
    reply_status(c, "OK");
}

static void auth_secure(Client *c, Request *req)
{
    const Arg *method = &req->argv[1], *arg = &req->argv[2];
    bool ok;

    if (!cmd_args(c, req, 3, false)) {
        return;
    }
    if (strncasecmp((const char *)method->buf, "SECURE", method->len) != 0) {
        reply_error(c, "Only SECURE extra method supported");
        return;
    }
    if (strncasecmp((const char *)arg->buf, "CHALLENGE", arg->len) == 0) {
        /* allowed without --admin: SELECT ... SECURE needs a nonce too */
        new_nonce(c);
        reply_status(c, c->nonce);
        return;
    }
    if (!config.admin) {
        reply_error(c, "Authentication disabled");
        return;
    }
    ok = auth_secure_check(c, arg, config.admin);
    if (ok) {
        c->admin = true;
        reply_status(c, "OK");
    }
    /* one try per challenge once a hash was compared, granted or not */
    if (arg->len == HASH_HEX_LEN) {
        c->has_nonce = false;
    }
}

void cmd_auth(Client *c, Request *req)
{
    if (config.no_challenge && req->argc == 3) {
        /* what a server without the SECURE extension says to it */
        reply_error(c, "Unexpected arguments");
        return;
    }
    if (req->argc == 2) {
        auth_regular(c, req);
    } else if (req->argc == 3) {
        auth_secure(c, req);
    } else {
        reply_error(c, "Unexpected arguments");
    }
}
