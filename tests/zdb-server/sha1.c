/*
 * SHA-1 (FIPS 180-4), written for this test server so that it needs no
 * crypto library.  Only used to check "SELECT ns SECURE <hash>" and
 * "AUTH SECURE <hash>", so speed does not matter.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>
#include "sha1.h"

static uint32_t rol(uint32_t v, int n)
{
    return (v << n) | (v >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    uint32_t a, b, c, d, e;
    int i;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[i * 4] << 24 | (uint32_t)p[i * 4 + 1] << 16 |
               (uint32_t)p[i * 4 + 2] << 8 | p[i * 4 + 3];
    }
    for (i = 16; i < 80; i++) {
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }

    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];
    for (i = 0; i < 80; i++) {
        uint32_t f, k, t;

        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1(const void *data, size_t len, uint8_t out[SHA1_DIGEST_LEN])
{
    uint32_t h[5] = {
        0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0
    };
    const uint8_t *p = data;
    uint8_t tail[128];
    size_t left = len, tlen;
    uint64_t bits = (uint64_t)len * 8;
    int i;

    while (left >= 64) {
        sha1_block(h, p);
        p += 64;
        left -= 64;
    }

    /* Padding: 0x80, zeros, then the message length in bits */
    memset(tail, 0, sizeof(tail));
    memcpy(tail, p, left);
    tail[left] = 0x80;
    tlen = left + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++) {
        tail[tlen - 1 - i] = (uint8_t)(bits >> (i * 8));
    }
    sha1_block(h, tail);
    if (tlen == 128) {
        sha1_block(h, tail + 64);
    }

    for (i = 0; i < 5; i++) {
        out[i * 4] = (uint8_t)(h[i] >> 24);
        out[i * 4 + 1] = (uint8_t)(h[i] >> 16);
        out[i * 4 + 2] = (uint8_t)(h[i] >> 8);
        out[i * 4 + 3] = (uint8_t)h[i];
    }
}

void sha1_hex(const void *data, size_t len, char out[41])
{
    uint8_t d[SHA1_DIGEST_LEN];
    int i;

    sha1(data, len, d);
    for (i = 0; i < SHA1_DIGEST_LEN; i++) {
        snprintf(out + i * 2, 3, "%02x", d[i]);
    }
}
