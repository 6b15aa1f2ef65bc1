// Package kmstest runs a stand-in for Huawei Cloud KMS on a loopback port, in the spirit of
// net/http/httptest: start one with [NewServer], point a client at [Server.URL] and call
// [Server.Close] when done.
//
// The server speaks the vendor's wire format: POST /v1.0/{project_id}/kms/{action} with a
// JSON body, for any project id. It really does the work. Keys live in memory, key material
// comes from crypto/rand, and data is sealed with AES-256-GCM. It serves create-key,
// describe-key, list-keys, enable-key, disable-key, encrypt-data, decrypt-data,
// create-datakey, create-datakey-without-plaintext, decrypt-datakey and gen-random. Every
// answer carries a fresh X-Request-Id header, except the proxy page of [HTMLBadGateway] and a
// dropped connection, which carry nothing of the service. Errors use the nested body
// {"error":{"error_code":...,"error_msg":...}} with the HTTP status the catalogue of the
// kmsretry package documents for the code.
//
// # Faults
//
// A [Fault] replaces the answer to one request: a KMS error code, a gateway error with a flat
// body, an HTML page from a proxy, or a connection closed with no answer at all. Faults come
// from two places, consulted in this order for each request:
//
//  1. Scripts ([Server.Script], [WithScript]): queues consumed one fault per request, first
//     the queue of the request's action, then the queue of "", which serves every action.
//  2. Rates ([Server.SetRate], [WithRate]): probabilities drawn from a math/rand/v2 source
//     seeded by [WithSeed] (1 by default). One number is drawn per request, and only when a
//     rate applies to the request's action; the rates of the action are tried before those
//     of "", each in the order they were set.
//
// A run whose requests arrive one at a time therefore repeats exactly for a given seed.
// Concurrent requests draw in the order they arrive, which the server cannot fix.
//
// A fault normally answers in place of the action, which then never happens. A fault with
// [Fault.AfterEffect] set lets the action happen first and only then replaces its answer:
// [DropAfterEffect] creates the key, say, and closes the connection, so the client cannot
// know whether its request took effect.
//
// # Authentication
//
// By default no credentials are checked. With [WithToken], each request must carry an
// X-Auth-Token the server issued through [Server.IssueToken] and has not expired through
// [Server.ExpireTokens]. A request signed with AK/SK (an Authorization header of the
// SDK-HMAC-SHA256 scheme) is accepted without checking its signature.
//
// # Counters
//
// [Server.Stats] and its shortcuts count requests and applied effects per action and faults
// per name; [Server.LastBody] and [Server.LastHeader] keep a copy of each action's latest
// request, and [WithHook] sees every exchange. Counters are updated before the answer is
// sent, so they are exact as soon as the client holds its response.
//
// # Differences from the real service
//
// Only symmetric AES_256 keys for ENCRYPT_DECRYPT exist. Ciphertexts embed the key id like the
// real ones, but their layout is this package's own and they are only valid on the server that
// made them. Nothing is persisted; grants, tags, aliases, rotation, deletion and key import are
// not served and answer KMS.0201.
//
// The package imports the kmsretry package for its catalogue of codes, so tests of kmsretry
// that use it must live in the external test package kmsretry_test.
package kmstest
