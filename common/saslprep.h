/*
 * saslprep: RFC 4013 SASLprep of a UTF-8 string (stringprep profile,
 * Unicode 3.2), used for STUN keys: short-term key = SASLprep(password),
 * long-term key = MD5(username ":" realm ":" SASLprep(password)).
 *
 * Steps, in RFC order: map non-ASCII spaces (C.1.2) to SPACE and the
 * "commonly mapped to nothing" code points (B.1) to nothing; NFKC; reject
 * prohibited output (C.1.2, C.2.1-C.9); the bidi rule (RFC 3454 section 6).
 * Unassigned code points are allowed ("query" semantics, RFC 3454 7).
 *
 * NFKC is partial on purpose: NFKC-stable input passes through, and
 * compatibility characters of a few curated blocks (Latin-1, letterlike and
 * number forms, ligatures, fullwidth forms...) are mapped; input that would
 * need any other normalisation change (combining sequences, Hangul jamo,
 * most CJK/Arabic compatibility forms) is refused with -EOPNOTSUPP rather
 * than prepared wrongly. docs/stun-codec.md has the exact rules.
 */
#ifndef SP_SASLPREP_H
#define SP_SASLPREP_H

#include <stddef.h>

/*
 * Prepare `in` (UTF-8, `inlen` bytes, no NUL needed) into `out` (`cap`
 * bytes; no NUL is written). On success *outlen is the output length.
 * Returns 0, -EILSEQ (not valid UTF-8), -EINVAL (prohibited code point or
 * bidi violation), -EOPNOTSUPP (needs NFKC data this build lacks) or
 * -ENOSPC (output does not fit; the output never exceeds 4 * inlen bytes).
 */
int saslprep(const char *in, size_t inlen, char *out, size_t cap, size_t *outlen);

#endif
