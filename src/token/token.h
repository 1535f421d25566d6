/*
 * The token layer: every PKCS#11 call custodian makes goes through here.
 *
 * A struct token is one PKCS#11 token, selected by an RFC 7512 URI inside
 * a module loaded by path. It keeps one session open for its whole life
 * (PKCS#11 login is per process, and closing the last session logs the
 * process out) and a bounded pool of further sessions so that several
 * threads can sign at once. When a session or the login is lost, the
 * layer reopens everything and logs in again, once, before reporting.
 *
 * A struct token_key is one key pair on that token, found by label and
 * CKA_ID. Keys are generated on the token as sensitive, never-extractable
 * and sign-only, and every key is checked for that before it is used.
 *
 * All functions are thread-safe. Functions return 0 or a negative
 * custodian error (custodian/error.h); when a PKCS#11 call caused the
 * failure, token_error_detail() names it for the log. The layer logs only
 * at debug level and never logs a PIN. After fork() a child must not use a
 * token opened by its parent: every call fails with CUST_ERR_FORKED, and
 * token_close() only frees memory.
 */
#ifndef CUSTODIAN_TOKEN_H
#define CUSTODIAN_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "alg.h"

struct token;
struct token_key;

/* Default number of pooled sessions, and the limit on it. */
#define TOKEN_SESSIONS_DEFAULT 4
#define TOKEN_SESSIONS_MAX     64

/* Default time a caller waits for a free session. */
#define TOKEN_WAIT_MS_DEFAULT 5000

/* Longest key label accepted, in bytes. */
#define TOKEN_LABEL_MAX 128

/* Longest CKA_ID accepted, in bytes. */
#define TOKEN_ID_MAX 64

/* Largest message token_sign_message() passes to the token whole. */
#define TOKEN_MESSAGE_MAX (1024 * 1024)

struct token_config {
    const char *module;         /* path of the PKCS#11 module */
    const char *uri;            /* "pkcs:" URI selecting one token */
    const char *pin_file;       /* file holding the user PIN, or NULL */
    const char *pin_credential; /* systemd credential name, or NULL */
    unsigned sessions;          /* pool size; 0 for the default */
    unsigned wait_ms;           /* wait for a session; 0 for the default */
};

/* What token_describe() reports; strings are trimmed and NUL-terminated. */
struct token_description {
    char label[33];
    char manufacturer[33];
    char model[17];
    char serial[17];
    char module[65]; /* module's library description */
};

/*
 * Loads the module, selects the one token the URI matches, logs in with
 * the PIN (read from its source, wiped right after) and opens the session
 * pool. Exactly one of pin_file and pin_credential must be set. The PIN
 * source is opened here and kept open: if the login is lost, the PIN is
 * read again through that descriptor, even after the process has given
 * up the right to open the file.
 * Blocks on the token. Returns 0 and *OUT (free with token_close()), or:
 * CUST_ERR_ARG (bad config), CUST_ERR_MODULE, CUST_ERR_URI,
 * CUST_ERR_TOKEN_NOT_FOUND, CUST_ERR_TOKEN_AMBIGUOUS, CUST_ERR_PIN_SOURCE,
 * CUST_ERR_PIN_INCORRECT, CUST_ERR_PIN_LOCKED, CUST_ERR_TOKEN.
 */
int token_open(const struct token_config *config, struct token **out);

/* Closes all sessions and finalizes the module. Accepts NULL. */
void token_close(struct token *tok);

/* Fills *OUT with the label, maker, model and serial of the token. */
int token_describe(struct token *tok, struct token_description *out);

/*
 * Returns 0 if the token has the mechanisms to generate and sign with keys
 * of TYPE, CUST_ERR_UNSUPPORTED if not.
 */
int token_supports(struct token *tok, enum alg_keytype type);

/*
 * Generates a key pair of TYPE on the token, labelled LABEL, with a fresh
 * random CKA_ID, and checks its custody attributes. Refuses a LABEL that
 * is already in use (CUST_ERR_KEY_EXISTS). Reports a type the token
 * cannot make as CUST_ERR_UNSUPPORTED. Key generation is serialized.
 * Returns 0 and *OUT (free with token_key_free()).
 */
int token_key_generate(struct token *tok, enum alg_keytype type,
                       const char *label, struct token_key **out);

/*
 * Finds the key pair labelled LABEL; if ID is not NULL its CKA_ID must
 * also equal the IDLEN bytes at ID. Fails with CUST_ERR_KEY_NOT_FOUND,
 * CUST_ERR_KEY_AMBIGUOUS, CUST_ERR_KEYTYPE (a type custodian does not
 * use) or CUST_ERR_KEY_UNSAFE (the private key is or was extractable, or
 * was not generated on the token). Returns 0 and *OUT.
 */
int token_key_find(struct token *tok, const char *label, const uint8_t *id,
                   size_t idlen, struct token_key **out);

/* Called by token_key_list() once per private key object. */
typedef void (*token_key_visit)(const char *label, const uint8_t *id,
                                size_t idlen, void *arg);

/*
 * Calls VISIT for every private key on the token, whoever made it, with
 * its label and CKA_ID (labels longer than TOKEN_LABEL_MAX are cut). Does
 * not check the keys: token_key_find() does that. Returns 0 or an error.
 */
int token_key_list(struct token *tok, token_key_visit visit, void *arg);

/* Frees the handle, not the key on the token. Accepts NULL. */
void token_key_free(struct token_key *key);

/*
 * Deletes both objects of the key pair from the token, for good. Only the
 * key lifecycle code calls this. KEY stays allocated (free it after).
 */
int token_key_destroy(struct token_key *key);

/* The key's type, label and CKA_ID (IDLEN set); pointers live with KEY. */
enum alg_keytype token_key_type(const struct token_key *key);
const char *token_key_label(const struct token_key *key);
const uint8_t *token_key_id(const struct token_key *key, size_t *idlen);

/* The public key, read from the token at find time. Not to be freed. */
EVP_PKEY *token_key_public(const struct token_key *key);

/*
 * Signs DIGEST (DLEN bytes of MD) with KEY under SCHEME into SIG
 * (ALG_SIG_MAX bytes), setting *SIGLEN. The digest length is checked
 * against MD before the token is touched (CUST_ERR_DIGEST_LEN); SCHEME
 * must fit the key (CUST_ERR_SCHEME). Ed25519 signs messages, not
 * digests: use token_sign_message(). Output: ECDSA as DER, RSA as the raw
 * signature. Blocks until a session is free (CUST_ERR_BUSY after the
 * configured wait).
 */
int token_sign_digest(struct token_key *key, enum alg_scheme scheme,
                      enum alg_digest md, const uint8_t *digest, size_t dlen,
                      uint8_t *sig, size_t *siglen);

/*
 * Signs the message MSG (LEN bytes, at most TOKEN_MESSAGE_MAX) with KEY.
 * Ed25519 signs MSG itself (MD must be ALG_DIGEST_NONE); RSA uses the
 * token's own hash-and-sign mechanism where it has one; otherwise MSG is
 * hashed with MD on the host and signed as by token_sign_digest().
 */
int token_sign_message(struct token_key *key, enum alg_scheme scheme,
                       enum alg_digest md, const uint8_t *msg, size_t len,
                       uint8_t *sig, size_t *siglen);

/*
 * The PKCS#11 function and CK_RV behind this thread's last failure, as
 * "C_Login: CKR_PIN_INCORRECT", or a note from the layer. Never NULL;
 * valid until this thread's next token call.
 */
const char *token_error_detail(void);

#endif
