/*
 * SHA-1, just enough for the 0-db SECURE challenge
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_SHA1_H
#define ZS_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

void sha1(const void *data, size_t len, uint8_t out[SHA1_DIGEST_LEN]);

/* Lower-case hex of sha1(data): out must hold 41 bytes */
void sha1_hex(const void *data, size_t len, char out[41]);

#endif
