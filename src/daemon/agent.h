/*
 * The OpenSSH agent front end: the agent protocol (draft-miller-ssh-agent)
 * on its own socket, so that ssh-keygen -Y sign, and git through it, sign
 * with custodian's keys unchanged.
 *
 * The agent socket lists and signs, nothing else: requests that would
 * change the agent (add or remove keys, add a PKCS#11 provider, lock,
 * unlock) and unknown messages get a failure reply, and the connection
 * stays. What a sign request signs is looked at first: only an SSH
 * signature preimage (sshsig.h) is signed, and its namespace is decided
 * by the policy like a native request's. The same identities, grants,
 * rate limits, key versions and audit log apply.
 */
#ifndef CUSTODIAN_AGENT_H
#define CUSTODIAN_AGENT_H

#include "buf.h"
#include "handler.h"

/* Message types. */
#define AGENT_FAILURE            5
#define AGENT_REQUEST_IDENTITIES 11
#define AGENT_IDENTITIES_ANSWER  12
#define AGENT_SIGN_REQUEST       13
#define AGENT_SIGN_RESPONSE      14

/* Sign request flags: RSA signatures over SHA-256 or SHA-512. */
#define AGENT_RSA_SHA2_256 2
#define AGENT_RSA_SHA2_512 4

/* Longest message accepted from a client, type byte included. */
#define AGENT_MESSAGE_MAX WIRE_FRAME_MAX

/* Appends a failure reply (the whole frame). */
void agent_put_failure(struct buf *out);

/*
 * Decodes a SIGN_REQUEST body (after the type byte) into R: the key blob
 * into r->blob, the data into r->data (r->sign.data and datalen point at
 * it), the flags. Returns 0, or CUST_ERR_PROTOCOL / CUST_ERR_TOO_BIG.
 */
int agent_get_sign(struct buf *body, struct handler_req *r);

/*
 * On a worker, with the policy read-locked (as handler_run()): answer
 * REQUEST_IDENTITIES with the active version of every key the caller may
 * list, or SIGN_REQUEST by the active version whose blob it names.
 * Each is audited; the answer goes when its record is durable.
 */
void agent_list(struct handler_req *r, const struct policy_caller *c);
void agent_sign(struct handler_req *r, const struct policy_caller *c);

#endif
