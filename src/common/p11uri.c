/*
 * PKCS#11 URIs (RFC 7512) that select a token, parsed and matched by
 * p11-kit. Only token attributes select: a slot number changes between
 * boots and machines, and a PIN has no place in a configuration file.
 * No PKCS#11 module is involved: this is text and token descriptions.
 */
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stdio.h>

#include "custodian/error.h"
#include "p11uri.h"

/* Returns true if URI sets any attribute of the kind TYPE formats. */
static bool
p11uri_has(P11KitUri *uri, P11KitUriType type)
{
    char *text = NULL;
    bool has;

    if (p11_kit_uri_format(uri, type, &text) != P11_KIT_URI_OK)
        return true;
    has = strcmp(text, "pkcs11:") != 0;
    free(text);
    return has;
}

static _Thread_local char p11uri_reason[160] = "no error";

static void p11uri_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
p11uri_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p11uri_reason, sizeof(p11uri_reason), fmt, ap);
    va_end(ap);
}

const char *
p11uri_error(void)
{
    return p11uri_reason;
}

/* The attribute names RFC 7512 and p11-kit know. */
static const char *const p11uri_known[] = {
    "token",
    "manufacturer",
    "model",
    "serial",
    "library-description",
    "library-manufacturer",
    "library-version",
    "slot-description",
    "slot-manufacturer",
    "slot-id",
    "object",
    "id",
    "type",
    "pin-value",
    "pin-source",
    "module-name",
    "module-path",
};

/*
 * Names the first attribute of TEXT that p11-kit did not recognize, for
 * the error message only: selection itself is p11-kit's parse.
 */
static void
p11uri_name_unknown(const char *text)
{
    const char *p = strchr(text, ':');
    size_t n, i;

    while (p != NULL && *p != '\0') {
        p++;
        n = strcspn(p, "=;?&");
        for (i = 0; i < sizeof(p11uri_known) / sizeof(char *); i++) {
            if (strlen(p11uri_known[i]) == n &&
                strncmp(p, p11uri_known[i], n) == 0)
                break;
        }
        if (n > 0 && i == sizeof(p11uri_known) / sizeof(char *)) {
            p11uri_note("unknown attribute \"%.*s\"", (int)(n > 40 ? 40 : n),
                        p);
            return;
        }
        p = strpbrk(p, ";?&");
    }
    p11uri_note("unknown attribute");
}

/* Returns why the parsed URI is unusable for selecting a token, or NULL. */
static const char *
p11uri_refusal(P11KitUri *uri)
{
    CK_ULONG nattrs = 0;

    if (p11_kit_uri_any_unrecognized(uri))
        return "";
    if (p11_kit_uri_get_slot_id(uri) != (CK_SLOT_ID)-1)
        return "slot-id selects by slot number; use token= or serial=";
    if (p11_kit_uri_get_pin_value(uri) != NULL)
        return "pin-value puts the PIN in the URI; use a PIN file";
    if (p11_kit_uri_get_pin_source(uri) != NULL)
        return "pin-source is not used; configure the PIN file instead";
    if (p11_kit_uri_get_module_path(uri) != NULL ||
        p11_kit_uri_get_module_name(uri) != NULL)
        return "module-path and module-name are not used; configure the "
               "module path instead";
    if (p11uri_has(uri, P11_KIT_URI_FOR_MODULE_WITH_VERSION))
        return "library attributes are not matched; configure the module "
               "path instead";
    if (p11uri_has(uri, P11_KIT_URI_FOR_SLOT))
        return "slot attributes select by slot; use token= or serial=";
    p11_kit_uri_get_attributes(uri, &nattrs);
    if (nattrs > 0)
        return "object attributes (object=, id=, type=) do not select a "
               "token";
    return NULL;
}

int
p11uri_parse(const char *text, P11KitUri **out)
{
    P11KitUri *uri = p11_kit_uri_new();
    const char *why;
    int prc;

    if (uri == NULL)
        return CUST_ERR_NOMEM;
    prc = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, uri);
    if (prc != P11_KIT_URI_OK) {
        p11uri_note("%s%s", p11_kit_uri_message(prc),
                    strchr(text, ' ') ? " (spaces are written %20)" : "");
        p11_kit_uri_free(uri);
        return CUST_ERR_URI;
    }
    why = p11uri_refusal(uri);
    if (why != NULL && *why == '\0') {
        p11uri_name_unknown(text);
        p11_kit_uri_free(uri);
        return CUST_ERR_URI;
    }
    if (why != NULL) {
        p11uri_note("%s", why);
        p11_kit_uri_free(uri);
        return CUST_ERR_URI;
    }
    *out = uri;
    return 0;
}

bool
p11uri_matches(const P11KitUri *uri, const CK_TOKEN_INFO *info)
{
    return p11_kit_uri_match_token_info(uri, info) == 1;
}
