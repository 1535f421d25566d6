/*
 * PKCS#11 URIs (RFC 7512) that select a token. Parsing and matching are
 * p11-kit's; this module refuses the attributes custodian does not select
 * by (slots, libraries, PINs, objects, unknown ones). Pure functions: no
 * PKCS#11 module is loaded, so configuration checkers use it too.
 */
#ifndef CUSTODIAN_P11URI_H
#define CUSTODIAN_P11URI_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

/*
 * Parses TEXT into *OUT (free with p11_kit_uri_free()). Returns 0, or
 * CUST_ERR_URI with the reason in p11uri_error(), or CUST_ERR_NOMEM.
 */
int p11uri_parse(const char *text, P11KitUri **out);

/* Returns true if URI selects the token that INFO describes. */
bool p11uri_matches(const P11KitUri *uri, const CK_TOKEN_INFO *info);

/* Why this thread's last p11uri_parse() failed; never NULL. */
const char *p11uri_error(void);

#endif
