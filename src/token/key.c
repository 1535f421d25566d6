/*
 * Key pairs on the token: generation, lookup, the custody checks every key
 * must pass, and reading the public half.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/rand.h>

#include "custodian/error.h"
#include "pubkey.h"
#include "token_int.h"

/* Length of the random CKA_ID given to generated keys. */
#define KEY_ID_LEN 16

/* CKA_EC_PARAMS values: DER OIDs of the named curves. */
static const uint8_t key_oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                       0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t key_oid_p384[] = {0x06, 0x05, 0x2b, 0x81,
                                       0x04, 0x00, 0x22};
static const uint8_t key_oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
/* The older form some tokens return: PrintableString "edwards25519". */
static const uint8_t key_name_ed25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
                                           'd',  's',  '2', '5', '5', '1', '9'};

static const CK_BBOOL key_true = CK_TRUE, key_false = CK_FALSE;

#define ATTR(type, ptr, len)                                                   \
    {                                                                          \
        (type), (void *)(ptr), (CK_ULONG)(len)                                 \
    }
#define ATTR_BOOL(type, v) ATTR((type), &(v), sizeof(CK_BBOOL))

/* Parameters of a key type as PKCS#11 sees it. */
struct key_kind {
    CK_MECHANISM_TYPE gen, sign;
    CK_KEY_TYPE ktype;
    const uint8_t *params;
    size_t paramslen;
    CK_ULONG bits;    /* for the mechanism's size range */
    size_t point_len; /* raw public point length, EC and Ed25519 */
};

static int
key_kind_of(enum alg_keytype type, struct key_kind *k)
{
    memset(k, 0, sizeof(*k));
    switch (type) {
    case ALG_KEY_ECDSA_P256:
    case ALG_KEY_ECDSA_P384:
        k->gen = CKM_EC_KEY_PAIR_GEN;
        k->sign = CKM_ECDSA;
        k->ktype = CKK_EC;
        k->params = type == ALG_KEY_ECDSA_P256 ? key_oid_p256 : key_oid_p384;
        k->paramslen = type == ALG_KEY_ECDSA_P256 ? sizeof(key_oid_p256)
                                                  : sizeof(key_oid_p384);
        k->bits = type == ALG_KEY_ECDSA_P256 ? 256 : 384;
        k->point_len = type == ALG_KEY_ECDSA_P256 ? 65 : 97;
        return 0;
    case ALG_KEY_ED25519:
        k->gen = CKM_EC_EDWARDS_KEY_PAIR_GEN;
        k->sign = CKM_EDDSA;
        k->ktype = CKK_EC_EDWARDS;
        k->params = key_oid_ed25519;
        k->paramslen = sizeof(key_oid_ed25519);
        k->point_len = 32;
        return 0;
    default:
        if (!alg_keytype_is_rsa(type))
            return CUST_ERR_KEYTYPE;
        k->gen = CKM_RSA_PKCS_KEY_PAIR_GEN;
        k->sign = CKM_RSA_PKCS;
        k->ktype = CKK_RSA;
        k->bits = alg_keytype_rsa_bits(type);
        return 0;
    }
}

int
token_supports(struct token *tok, enum alg_keytype type)
{
    const CK_MECHANISM_INFO *info;
    struct key_kind k;
    int rc = key_kind_of(type, &k);

    if (rc != 0)
        return rc;
    info = token_mech_info(tok, k.gen);
    if (info == NULL || !token_has_mech(tok, k.sign)) {
        token_note("%s: token lacks the mechanisms", alg_keytype_name(type));
        return CUST_ERR_UNSUPPORTED;
    }
    /* Sizes are in bits for these mechanisms; 0 means "not stated". */
    if (k.bits != 0 && info->ulMaxKeySize != 0 &&
        (k.bits < info->ulMinKeySize || k.bits > info->ulMaxKeySize)) {
        token_note("%s: token makes keys of %lu to %lu bits",
                   alg_keytype_name(type), (unsigned long)info->ulMinKeySize,
                   (unsigned long)info->ulMaxKeySize);
        return CUST_ERR_UNSUPPORTED;
    }
    return 0;
}

/*
 * Finds objects of CLASS labelled LABEL (and with CKA_ID equal to ID if
 * IDLEN > 0). Stores up to two handles; *COUNT says how many were found
 * (2 meaning "two or more").
 */
static CK_RV
key_search(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
           const char *label, const uint8_t *id, size_t idlen,
           CK_OBJECT_HANDLE found[2], CK_ULONG *count)
{
    CK_ATTRIBUTE tmpl[3] = {
        ATTR(CKA_CLASS, &cls, sizeof(cls)),
        ATTR(CKA_LABEL, label, label ? strlen(label) : 0),
        ATTR(CKA_ID, id, idlen),
    };
    CK_ULONG ntmpl = 1;
    CK_RV rv, frv;

    if (label != NULL)
        ntmpl = 2;
    if (idlen > 0) {
        tmpl[ntmpl] = tmpl[2];
        ntmpl++;
    }
    rv = tok->fn->C_FindObjectsInit(s, tmpl, ntmpl);
    if (rv != CKR_OK) {
        token_fail("C_FindObjectsInit", rv);
        return rv;
    }
    rv = tok->fn->C_FindObjects(s, found, 2, count);
    frv = tok->fn->C_FindObjectsFinal(s);
    if (rv == CKR_OK)
        rv = frv;
    if (rv != CKR_OK)
        token_fail("C_FindObjects", rv);
    return rv;
}

/* Reads one boolean attribute; a missing one reads as false. */
static bool
key_bool(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
         CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = CK_FALSE;
    CK_ATTRIBUTE a = ATTR(type, &v, sizeof(v));

    if (tok->fn->C_GetAttributeValue(s, obj, &a, 1) != CKR_OK)
        return false;
    return v == CK_TRUE;
}

/*
 * The custody rule: the private key was generated on the token, has always
 * been sensitive and has never been extractable. Such a key cannot have
 * left the token, and no attribute change can let it out later. It signs
 * and does nothing else: a key that also decrypts, unwraps or derives
 * could be made to serve as an oracle for whatever reaches the token.
 */
static int
key_check_custody(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                  const char *label)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        bool want;
        const char *name;
    } rules[] = {
        {CKA_TOKEN, true, "CKA_TOKEN"},
        {CKA_PRIVATE, true, "CKA_PRIVATE"},
        {CKA_SENSITIVE, true, "CKA_SENSITIVE"},
        {CKA_ALWAYS_SENSITIVE, true, "CKA_ALWAYS_SENSITIVE"},
        {CKA_EXTRACTABLE, false, "CKA_EXTRACTABLE"},
        {CKA_NEVER_EXTRACTABLE, true, "CKA_NEVER_EXTRACTABLE"},
        {CKA_LOCAL, true, "CKA_LOCAL"},
        {CKA_SIGN, true, "CKA_SIGN"},
        {CKA_DECRYPT, false, "CKA_DECRYPT"},
        {CKA_UNWRAP, false, "CKA_UNWRAP"},
        {CKA_DERIVE, false, "CKA_DERIVE"},
    };
    size_t i;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (key_bool(tok, s, priv, rules[i].type) != rules[i].want) {
            token_note("key \"%s\": %s is not %s", label, rules[i].name,
                       rules[i].want ? "true" : "false");
            return rules[i].type == CKA_SIGN ? CUST_ERR_SCHEME
                                             : CUST_ERR_KEY_UNSAFE;
        }
    }
    return 0;
}

/*
 * Makes a new private key sign-only. CKA_DECRYPT is cleared after
 * generation rather than in the template: some modules (tpm2-pkcs11)
 * fail generation with CKA_DECRYPT false and leave the device in a bad
 * state, while every module tried accepts the change afterwards.
 */
static int
key_restrict_usage(struct token *tok, CK_SESSION_HANDLE s,
                   CK_OBJECT_HANDLE priv, const char *label)
{
    CK_ATTRIBUTE off = ATTR_BOOL(CKA_DECRYPT, key_false);
    CK_RV rv;

    if (key_bool(tok, s, priv, CKA_DECRYPT)) {
        rv = tok->fn->C_SetAttributeValue(s, priv, &off, 1);
        if (rv != CKR_OK) {
            token_fail("C_SetAttributeValue(CKA_DECRYPT)", rv);
            return CUST_ERR_UNSUPPORTED;
        }
    }
    if (key_bool(tok, s, priv, CKA_DECRYPT) ||
        key_bool(tok, s, priv, CKA_UNWRAP) ||
        key_bool(tok, s, priv, CKA_DERIVE)) {
        token_note("key \"%s\": token keeps decrypt, unwrap or derive on",
                   label);
        return CUST_ERR_UNSUPPORTED;
    }
    return 0;
}

/* Reads a variable-length attribute into a fresh allocation. */
static CK_RV
key_read_attr(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
              CK_ATTRIBUTE_TYPE type, uint8_t **out, size_t *len)
{
    CK_ATTRIBUTE a = ATTR(type, NULL, 0);
    CK_RV rv;

    rv = tok->fn->C_GetAttributeValue(s, obj, &a, 1);
    if (rv == CKR_OK && (a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
                         a.ulValueLen == 0 || a.ulValueLen > 4096))
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
    if (rv != CKR_OK) {
        token_fail("C_GetAttributeValue", rv);
        return rv;
    }
    a.pValue = malloc(a.ulValueLen);
    if (a.pValue == NULL)
        return CKR_HOST_MEMORY;
    rv = tok->fn->C_GetAttributeValue(s, obj, &a, 1);
    if (rv != CKR_OK) {
        token_fail("C_GetAttributeValue", rv);
        free(a.pValue);
        return rv;
    }
    *out = a.pValue;
    *len = a.ulValueLen;
    return CKR_OK;
}

/* Works out the custodian key type from the public object's attributes. */
static int
key_type_of(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
            enum alg_keytype *type)
{
    CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
    CK_ATTRIBUTE a = ATTR(CKA_KEY_TYPE, &kt, sizeof(kt));
    uint8_t *params = NULL;
    size_t len = 0;

    *type = ALG_KEY_NONE;
    if (tok->fn->C_GetAttributeValue(s, pub, &a, 1) != CKR_OK)
        return CUST_ERR_KEYTYPE;
    if (kt == CKK_RSA)
        return 0; /* sized from the modulus when the key is built */
    if (kt != CKK_EC && kt != CKK_EC_EDWARDS)
        return CUST_ERR_KEYTYPE;
    if (key_read_attr(tok, s, pub, CKA_EC_PARAMS, &params, &len) != CKR_OK)
        return CUST_ERR_KEYTYPE;

#define PARAMS_ARE(x) (len == sizeof(x) && memcmp(params, x, len) == 0)
    if (kt == CKK_EC && PARAMS_ARE(key_oid_p256))
        *type = ALG_KEY_ECDSA_P256;
    else if (kt == CKK_EC && PARAMS_ARE(key_oid_p384))
        *type = ALG_KEY_ECDSA_P384;
    else if (kt == CKK_EC_EDWARDS &&
             (PARAMS_ARE(key_oid_ed25519) || PARAMS_ARE(key_name_ed25519)))
        *type = ALG_KEY_ED25519;
#undef PARAMS_ARE
    free(params);
    return *type == ALG_KEY_NONE ? CUST_ERR_KEYTYPE : 0;
}

/*
 * CKA_EC_POINT is a DER OCTET STRING around the point in PKCS#11 2.40 and
 * in most modules, the bare point in some newer ones: tell them apart by
 * length, since the bare point's length is fixed by the curve.
 */
static int
key_unwrap_point(const uint8_t *in, size_t len, size_t want,
                 const uint8_t **point)
{
    ASN1_OCTET_STRING *os;
    const unsigned char *p = in;
    bool ok;

    if (len == want) {
        *point = in;
        return 0;
    }
    os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
    ok = os != NULL && p == in + len && (size_t)ASN1_STRING_length(os) == want;
    ASN1_OCTET_STRING_free(os);
    if (!ok)
        return CUST_ERR_KEYTYPE;
    *point = in + (len - want); /* short-form header: content at the end */
    return 0;
}

static int
key_build_ec(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
             enum alg_keytype type, EVP_PKEY **out)
{
    struct key_kind k;
    const uint8_t *point;
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc;

    key_kind_of(type, &k);
    if (key_read_attr(tok, s, pub, CKA_EC_POINT, &raw, &len) != CKR_OK)
        return CUST_ERR_TOKEN;
    rc = key_unwrap_point(raw, len, k.point_len, &point);
    if (rc == 0 && type == ALG_KEY_ED25519)
        rc = pubkey_from_ed25519(point, k.point_len, out);
    else if (rc == 0)
        rc = pubkey_from_ec(type, point, k.point_len, out);
    free(raw);
    return rc;
}

static int
key_build_rsa(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
              EVP_PKEY **out)
{
    uint8_t *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;
    int rc = CUST_ERR_TOKEN;

    if (key_read_attr(tok, s, pub, CKA_MODULUS, &n, &nlen) == CKR_OK &&
        key_read_attr(tok, s, pub, CKA_PUBLIC_EXPONENT, &e, &elen) == CKR_OK)
        rc = pubkey_from_rsa(n, nlen, e, elen, out);
    free(n);
    free(e);
    return rc;
}

/* Reads the public half of KEY from its public object into key->pub. */
static int
key_load_public(struct token *tok, CK_SESSION_HANDLE s, struct token_key *key)
{
    enum alg_keytype type;
    int rc;

    rc = key_type_of(tok, s, key->pubobj, &type);
    if (rc == 0 && type == ALG_KEY_NONE)
        rc = key_build_rsa(tok, s, key->pubobj, &key->pub);
    else if (rc == 0)
        rc = key_build_ec(tok, s, key->pubobj, type, &key->pub);
    if (rc != 0) {
        token_note("key \"%s\": public key unreadable or of an unused type",
                   key->label);
        return rc;
    }
    key->type = pubkey_keytype(key->pub);
    if (key->type == ALG_KEY_NONE) {
        token_note("key \"%s\": RSA size not one of 2048, 3072, 4096",
                   key->label);
        return CUST_ERR_KEYTYPE;
    }
    return 0;
}

/* Reads the CKA_ID of the private object into KEY. */
static CK_RV
key_read_id(struct token *tok, CK_SESSION_HANDLE s, struct token_key *key)
{
    CK_ATTRIBUTE a = ATTR(CKA_ID, key->id, sizeof(key->id));
    CK_RV rv = tok->fn->C_GetAttributeValue(s, key->priv, &a, 1);

    if (rv != CKR_OK) {
        token_fail("C_GetAttributeValue(CKA_ID)", rv);
        return rv;
    }
    key->idlen = a.ulValueLen;
    return CKR_OK;
}

/* Sets *RC from the number of objects a search found. */
static CK_RV
key_count_rc(CK_ULONG n, const char *label, const char *what, int *rc)
{
    *rc = n == 0 ? CUST_ERR_KEY_NOT_FOUND : n > 1 ? CUST_ERR_KEY_AMBIGUOUS : 0;
    if (*rc == 0)
        return CKR_OK;
    token_note("key \"%s\": %s %s object", label,
               n == 0 ? "no" : "more than one", what);
    return CKR_FUNCTION_FAILED;
}

/* Finds the private object of KEY by label (and CKA_ID if known). */
static CK_RV
key_locate_private(struct token *tok, CK_SESSION_HANDLE s,
                   struct token_key *key, int *rc)
{
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_RV rv;

    rv = key_search(tok, s, CKO_PRIVATE_KEY, key->label, key->id, key->idlen,
                    found, &n);
    if (rv == CKR_OK)
        rv = key_count_rc(n, key->label, "private key", rc);
    if (rv != CKR_OK)
        return rv;
    key->priv = found[0];
    return key->idlen == 0 ? key_read_id(tok, s, key) : CKR_OK;
}

/* Finds the public object of KEY by label and the private one's CKA_ID. */
static CK_RV
key_locate_public(struct token *tok, CK_SESSION_HANDLE s, struct token_key *key,
                  int *rc)
{
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_RV rv;

    rv = key_search(tok, s, CKO_PUBLIC_KEY, key->label, key->id, key->idlen,
                    found, &n);
    if (rv == CKR_OK)
        rv = key_count_rc(n, key->label, "public key", rc);
    if (rv == CKR_OK)
        key->pubobj = found[0];
    return rv;
}

static CK_RV
key_locate(struct token *tok, CK_SESSION_HANDLE s, struct token_key *key,
           int *rc)
{
    CK_RV rv = key_locate_private(tok, s, key, rc);

    return rv != CKR_OK ? rv : key_locate_public(tok, s, key, rc);
}

/* token_run() operation behind token_key_find(). The custody check
 * comes first: an unsafe key is named as such, whatever else it lacks. */
static CK_RV
key_find_op(struct token *tok, struct token_session *s, void *ctx, int *rc)
{
    struct token_key *key = ctx;
    CK_RV rv;

    rv = key_locate_private(tok, s->h, key, rc);
    if (rv != CKR_OK)
        return rv;
    *rc = key_check_custody(tok, s->h, key->priv, key->label);
    if (*rc != 0)
        return CKR_FUNCTION_FAILED;
    rv = key_locate_public(tok, s->h, key, rc);
    if (rv != CKR_OK)
        return rv;
    *rc = key_load_public(tok, s->h, key);
    if (*rc != 0)
        return CKR_FUNCTION_FAILED;
    key->epoch = s->epoch;
    return CKR_OK;
}

static struct token_key *
key_alloc(struct token *tok, const char *label, const uint8_t *id, size_t idlen)
{
    struct token_key *key;

    if (strlen(label) == 0 || strlen(label) > TOKEN_LABEL_MAX ||
        idlen > TOKEN_ID_MAX) {
        token_note("a key label is 1 to %d bytes, a key id at most %d",
                   TOKEN_LABEL_MAX, TOKEN_ID_MAX);
        return NULL;
    }
    key = calloc(1, sizeof(*key));
    if (key == NULL)
        return NULL;
    key->tok = tok;
    strcpy(key->label, label);
    if (idlen > 0)
        memcpy(key->id, id, idlen);
    key->idlen = idlen;
    pthread_mutex_init(&key->lock, NULL);
    return key;
}

int
token_key_find(struct token *tok, const char *label, const uint8_t *id,
               size_t idlen, struct token_key **out)
{
    struct token_key *key;
    int rc = token_check_pid(tok);

    if (rc != 0)
        return rc;
    key = key_alloc(tok, label, id, id != NULL ? idlen : 0);
    if (key == NULL)
        return CUST_ERR_ARG;
    rc = token_run(tok, NULL, key_find_op, key);
    if (rc != 0) {
        token_key_free(key);
        return rc;
    }
    *out = key;
    return 0;
}

void
token_key_free(struct token_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pub);
    pthread_mutex_destroy(&key->lock);
    free(key);
}

void
token_key_mark_stale(struct token_key *key)
{
    pthread_mutex_lock(&key->lock);
    key->epoch = (unsigned long)-1;
    pthread_mutex_unlock(&key->lock);
}

CK_RV
token_key_handles(struct token_key *key, struct token_session *s,
                  CK_OBJECT_HANDLE *priv)
{
    CK_RV rv = CKR_OK;
    int rc = 0;

    pthread_mutex_lock(&key->lock);
    if (key->epoch != s->epoch) {
        rv = key_locate(key->tok, s->h, key, &rc);
        if (rv == CKR_OK)
            key->epoch = s->epoch;
        else if (rc != 0)
            rv = CKR_KEY_HANDLE_INVALID; /* the key is gone */
    }
    *priv = key->priv;
    pthread_mutex_unlock(&key->lock);
    return rv;
}

enum alg_keytype
token_key_type(const struct token_key *key)
{
    return key->type;
}

const char *
token_key_label(const struct token_key *key)
{
    return key->label;
}

const uint8_t *
token_key_id(const struct token_key *key, size_t *idlen)
{
    *idlen = key->idlen;
    return key->id;
}

EVP_PKEY *
token_key_public(const struct token_key *key)
{
    return key->pub;
}

/* What the generation operation needs. */
struct key_gen {
    struct token_key *key;
    enum alg_keytype type;
};

/* Generation failures that mean "this token cannot make that key". */
static bool
key_gen_unsupported(CK_RV rv)
{
    return rv == CKR_MECHANISM_INVALID || rv == CKR_CURVE_NOT_SUPPORTED ||
           rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_KEY_SIZE_RANGE ||
           rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT;
}

static CK_RV
key_gen_pair(struct token *tok, CK_SESSION_HANDLE s, struct token_key *key,
             const struct key_kind *k, CK_OBJECT_HANDLE *pub,
             CK_OBJECT_HANDLE *priv)
{
    static const uint8_t f4[] = {0x01, 0x00, 0x01};
    CK_MECHANISM mech = {k->gen, NULL, 0};
    CK_ULONG bits = k->bits;
    size_t llen = strlen(key->label);
    CK_ATTRIBUTE pubt[7] = {
        ATTR_BOOL(CKA_TOKEN, key_true),    ATTR_BOOL(CKA_PRIVATE, key_false),
        ATTR_BOOL(CKA_VERIFY, key_true),   ATTR(CKA_LABEL, key->label, llen),
        ATTR(CKA_ID, key->id, key->idlen),
    };
    CK_ATTRIBUTE privt[] = {
        ATTR_BOOL(CKA_TOKEN, key_true),
        ATTR_BOOL(CKA_PRIVATE, key_true),
        ATTR_BOOL(CKA_SENSITIVE, key_true),
        ATTR_BOOL(CKA_EXTRACTABLE, key_false),
        ATTR_BOOL(CKA_SIGN, key_true),
        ATTR_BOOL(CKA_UNWRAP, key_false),
        ATTR_BOOL(CKA_DERIVE, key_false),
        ATTR(CKA_LABEL, key->label, llen),
        ATTR(CKA_ID, key->id, key->idlen),
    };
    CK_ULONG npub = 5;
    CK_RV rv;

    if (k->ktype == CKK_RSA) {
        pubt[npub++] =
            (CK_ATTRIBUTE)ATTR(CKA_MODULUS_BITS, &bits, sizeof(bits));
        pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
    } else {
        pubt[npub++] =
            (CK_ATTRIBUTE)ATTR(CKA_EC_PARAMS, k->params, k->paramslen);
    }
    rv =
        tok->fn->C_GenerateKeyPair(s, &mech, pubt, npub, privt,
                                   sizeof(privt) / sizeof(privt[0]), pub, priv);
    if (rv != CKR_OK)
        token_fail("C_GenerateKeyPair", rv);
    return rv;
}

/* Removes a pair that failed its checks; it was never handed out. */
static void
key_discard(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
            CK_OBJECT_HANDLE priv)
{
    tok->fn->C_DestroyObject(s, priv);
    tok->fn->C_DestroyObject(s, pub);
}

/* token_run() operation behind token_key_generate(). */
static CK_RV
key_generate_op(struct token *tok, struct token_session *s, void *ctx, int *rc)
{
    struct key_gen *g = ctx;
    struct token_key *key = g->key;
    CK_OBJECT_HANDLE found[2], pub, priv;
    struct key_kind k;
    CK_ULONG n = 0;
    CK_RV rv;

    key_kind_of(g->type, &k);
    rv = key_search(tok, s->h, CKO_PRIVATE_KEY, key->label, NULL, 0, found, &n);
    if (rv != CKR_OK)
        return rv;
    if (n > 0) {
        token_note("a key labelled \"%s\" exists", key->label);
        *rc = CUST_ERR_KEY_EXISTS;
        return CKR_FUNCTION_FAILED;
    }

    rv = key_gen_pair(tok, s->h, key, &k, &pub, &priv);
    if (rv != CKR_OK && key_gen_unsupported(rv)) {
        *rc = CUST_ERR_UNSUPPORTED;
        return CKR_FUNCTION_FAILED;
    }
    if (rv != CKR_OK)
        return rv;

    *rc = key_restrict_usage(tok, s->h, priv, key->label);
    if (*rc == 0)
        *rc = key_check_custody(tok, s->h, priv, key->label);
    if (*rc != 0) {
        key_discard(tok, s->h, pub, priv);
        return CKR_FUNCTION_FAILED;
    }
    key->priv = priv;
    key->pubobj = pub;
    key->epoch = s->epoch;
    *rc = key_load_public(tok, s->h, key);
    return *rc == 0 ? CKR_OK : CKR_FUNCTION_FAILED;
}

int
token_key_generate(struct token *tok, enum alg_keytype type, const char *label,
                   struct token_key **out)
{
    uint8_t id[KEY_ID_LEN];
    struct key_gen g = {NULL, type};
    int rc = token_check_pid(tok);

    if (rc == 0)
        rc = token_supports(tok, type);
    if (rc != 0)
        return rc;
    if (RAND_bytes(id, sizeof(id)) != 1)
        return CUST_ERR_INTERNAL;
    g.key = key_alloc(tok, label, id, sizeof(id));
    if (g.key == NULL)
        return CUST_ERR_ARG;

    pthread_mutex_lock(&tok->keygen_lock);
    rc = token_run(tok, NULL, key_generate_op, &g);
    pthread_mutex_unlock(&tok->keygen_lock);
    if (rc != 0) {
        token_key_free(g.key);
        return rc;
    }
    *out = g.key;
    return 0;
}

/* token_run() operation behind token_key_destroy(). */
static CK_RV
key_destroy_op(struct token *tok, struct token_session *s, void *ctx, int *rc)
{
    struct token_key *key = ctx;
    CK_OBJECT_HANDLE priv;
    CK_RV rv;

    (void)rc;
    rv = token_key_handles(key, s, &priv);
    if (rv == CKR_OK)
        rv = tok->fn->C_DestroyObject(s->h, priv);
    if (rv == CKR_OK)
        rv = tok->fn->C_DestroyObject(s->h, key->pubobj);
    if (rv != CKR_OK)
        token_fail("C_DestroyObject", rv);
    return rv;
}

int
token_key_destroy(struct token_key *key)
{
    struct token *tok = key->tok;
    int rc = token_check_pid(tok);

    if (rc != 0)
        return rc;
    pthread_mutex_lock(&tok->keygen_lock);
    rc = token_run(tok, key, key_destroy_op, key);
    pthread_mutex_unlock(&tok->keygen_lock);
    return rc;
}

/* What the listing operation needs. */
struct key_listing {
    token_key_visit visit;
    void *arg;
};

/* Reads label and CKA_ID of OBJ and passes them on. */
static CK_RV
key_visit_one(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
              const struct key_listing *l)
{
    char label[TOKEN_LABEL_MAX + 1];
    uint8_t id[TOKEN_ID_MAX];
    CK_ATTRIBUTE a[2] = {
        ATTR(CKA_LABEL, label, TOKEN_LABEL_MAX),
        ATTR(CKA_ID, id, sizeof(id)),
    };
    CK_RV rv = tok->fn->C_GetAttributeValue(s, obj, a, 2);

    /* Too long for the buffer: show it as unreadable rather than fail. */
    if (rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_TYPE_INVALID) {
        a[0].ulValueLen =
            a[0].ulValueLen > TOKEN_LABEL_MAX ? 0 : a[0].ulValueLen;
        a[1].ulValueLen = a[1].ulValueLen > sizeof(id) ? 0 : a[1].ulValueLen;
        rv = CKR_OK;
    }
    if (rv != CKR_OK) {
        token_fail("C_GetAttributeValue", rv);
        return rv;
    }
    label[a[0].ulValueLen] = '\0';
    l->visit(label, id, a[1].ulValueLen, l->arg);
    return CKR_OK;
}

/* Collects the handles of all private keys in session S into *OUT. */
static CK_RV
key_collect(struct token *tok, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE **out,
            CK_ULONG *count)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl = ATTR(CKA_CLASS, &cls, sizeof(cls));
    CK_OBJECT_HANDLE *all = NULL, *grown;
    CK_ULONG n = 0, got = 0, cap = 0;
    CK_RV rv, frv;

    rv = tok->fn->C_FindObjectsInit(s, &tmpl, 1);
    while (rv == CKR_OK) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(all, cap * sizeof(*all));
            if (grown == NULL) {
                rv = CKR_HOST_MEMORY;
                break;
            }
            all = grown;
        }
        rv = tok->fn->C_FindObjects(s, all + n, cap - n, &got);
        if (rv != CKR_OK || got == 0)
            break;
        n += got;
    }
    frv = tok->fn->C_FindObjectsFinal(s);
    if (rv == CKR_OK)
        rv = frv;
    if (rv != CKR_OK) {
        token_fail("C_FindObjects", rv);
        free(all);
        return rv;
    }
    *out = all;
    *count = n;
    return CKR_OK;
}

/* token_run() operation behind token_key_list(). */
static CK_RV
key_list_op(struct token *tok, struct token_session *s, void *ctx, int *rc)
{
    CK_OBJECT_HANDLE *objs = NULL;
    CK_ULONG n = 0, i;
    CK_RV rv;

    (void)rc;
    rv = key_collect(tok, s->h, &objs, &n);
    for (i = 0; rv == CKR_OK && i < n; i++)
        rv = key_visit_one(tok, s->h, objs[i], ctx);
    free(objs);
    return rv;
}

int
token_key_list(struct token *tok, token_key_visit visit, void *arg)
{
    struct key_listing l = {visit, arg};
    int rc = token_check_pid(tok);

    return rc != 0 ? rc : token_run(tok, NULL, key_list_op, &l);
}
