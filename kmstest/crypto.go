package kmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// A ciphertext is laid out as one purpose byte, the 36 characters of the key id, then the
// AES-256-GCM nonce, sealed data and tag. The purpose byte and key id are authenticated with
// the encryption context, so a ciphertext made for data cannot pass as a data key, and one
// edited to name another key fails.
const (
	purposeData    byte = 1
	purposeDataKey byte = 2

	headLen = 1 + 36
	gcmLen  = 12 + 16

	maxPlainText = 4096
)

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// newKeyID returns a random key id in the form of a version 4 UUID.
func newKeyID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newAEAD returns AES-256-GCM with random nonces for key material.
func newAEAD(material []byte) cipher.AEAD {
	block, err := aes.NewCipher(material)
	if err != nil {
		panic("kmstest: bad key material: " + err.Error())
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("kmstest: cannot build AES-GCM: " + err.Error())
	}
	return aead
}

// seal encrypts plain under k for a purpose, bound to an encryption context.
func seal(k key, purpose byte, plain, context []byte) []byte {
	head := append([]byte{purpose}, k.id...)
	return newAEAD(k.material).Seal(head, nil, plain, slices.Concat(head, context))
}

// blobKeyID returns the key id a ciphertext made by seal for a purpose names, or reports
// false when the ciphertext has the wrong shape.
func blobKeyID(blob []byte, purpose byte) (string, bool) {
	if len(blob) < headLen+gcmLen || blob[0] != purpose {
		return "", false
	}
	id := string(blob[1:headLen])
	return id, validKeyID(id)
}

// open decrypts a ciphertext made by seal for a purpose, with the key it names, which must
// be enabled. A ciphertext of the wrong shape answers the code bad; one that fails
// authentication answers KMS.2203.
func (s *Server) open(blob []byte, purpose byte, ctx []byte, bad string) (key, []byte, *kmsError) {
	id, ok := blobKeyID(blob, purpose)
	if !ok {
		return key{}, nil, failf(bad, "The ciphertext is malformed.")
	}

	k, err := s.keys.usable(id)
	if err != nil {
		return key{}, nil, err
	}

	head := blob[:headLen]
	plain, openErr := newAEAD(k.material).Open(nil, nil, blob[headLen:], slices.Concat(head, ctx))
	if openErr != nil {
		return key{}, nil, failf("KMS.2203", "The ciphertext failed authentication.")
	}
	return k, plain, nil
}

func (s *Server) encryptData(body []byte) (any, *kmsError) {
	var req struct {
		KeyID             string          `json:"key_id"`
		PlainText         string          `json:"plain_text"`
		EncryptionContext json.RawMessage `json:"encryption_context"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	k, err := s.keys.usable(req.KeyID)
	if err != nil {
		return nil, err
	}
	if req.PlainText == "" {
		return nil, failf("KMS.0204", "The parameter plain_text is missing.")
	}
	if len(req.PlainText) > maxPlainText {
		return nil, failf("KMS.0308", "plain_text is longer than %d bytes.", maxPlainText)
	}
	context, err := parseContext(req.EncryptionContext)
	if err != nil {
		return nil, err
	}

	blob := seal(k, purposeData, []byte(req.PlainText), context)
	reply := struct {
		KeyID      string `json:"key_id"`
		CipherText string `json:"cipher_text"`
	}{k.id, base64.StdEncoding.EncodeToString(blob)}
	return reply, nil
}

func (s *Server) decryptData(body []byte) (any, *kmsError) {
	var req struct {
		CipherText        string          `json:"cipher_text"`
		EncryptionContext json.RawMessage `json:"encryption_context"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	if req.CipherText == "" {
		return nil, failf("KMS.0204", "The parameter cipher_text is missing.")
	}
	blob, decErr := base64.StdEncoding.DecodeString(req.CipherText)
	if decErr != nil {
		return nil, failf("KMS.0308", "cipher_text is not base64.")
	}
	context, err := parseContext(req.EncryptionContext)
	if err != nil {
		return nil, err
	}

	k, plain, err := s.open(blob, purposeData, context, "KMS.0308")
	if err != nil {
		return nil, err
	}
	reply := struct {
		KeyID           string `json:"key_id"`
		PlainText       string `json:"plain_text"`
		PlainTextBase64 string `json:"plain_text_base64"`
	}{k.id, string(plain), base64.StdEncoding.EncodeToString(plain)}
	return reply, nil
}

// datakeyRequest is the body of create-datakey and create-datakey-without-plaintext.
type datakeyRequest struct {
	KeyID             string          `json:"key_id"`
	KeySpec           string          `json:"key_spec"`
	DatakeyLength     number          `json:"datakey_length"`
	EncryptionContext json.RawMessage `json:"encryption_context"`
}

// datakeyReply is the reply of create-datakey; create-datakey-without-plaintext leaves
// plain_text out.
type datakeyReply struct {
	KeyID      string `json:"key_id"`
	PlainText  string `json:"plain_text,omitempty"`
	CipherText string `json:"cipher_text"`
}

func (s *Server) createDatakey(body []byte) (any, *kmsError) {
	return s.newDatakey(body, true)
}

func (s *Server) createDatakeyBare(body []byte) (any, *kmsError) {
	return s.newDatakey(body, false)
}

// newDatakey makes a random data key and returns it sealed, in hex, and also in the clear
// when withPlain is set.
func (s *Server) newDatakey(body []byte, withPlain bool) (any, *kmsError) {
	var req datakeyRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	k, err := s.keys.usable(req.KeyID)
	if err != nil {
		return nil, err
	}
	bits, err := datakeyBits(req.KeySpec, req.DatakeyLength)
	if err != nil {
		return nil, err
	}
	context, err := parseContext(req.EncryptionContext)
	if err != nil {
		return nil, err
	}

	dk := randomBytes(bits / 8)
	reply := datakeyReply{KeyID: k.id, CipherText: upperHex(seal(k, purposeDataKey, dk, context))}
	if withPlain {
		reply.PlainText = upperHex(dk)
	}
	return reply, nil
}

// datakeyBits returns the length of a new data key in bits: datakey_length when given, else
// the size of key_spec, else 512.
func datakeyBits(spec string, length number) (int, *kmsError) {
	sizes := map[string]int{"": 512, "AES_256": 256, "AES_128": 128}
	bits, ok := sizes[spec]
	if !ok {
		return 0, fail("KMS.1902")
	}
	if !length.set {
		return bits, nil
	}

	n, ok := length.int()
	if !ok || n < 8 || n > 8192 {
		return 0, fail("KMS.1901")
	}
	if n%8 != 0 {
		return 0, fail("KMS.1903")
	}
	return n, nil
}

func (s *Server) decryptDatakey(body []byte) (any, *kmsError) {
	var req struct {
		KeyID               string          `json:"key_id"`
		CipherText          string          `json:"cipher_text"`
		DatakeyCipherLength number          `json:"datakey_cipher_length"`
		EncryptionContext   json.RawMessage `json:"encryption_context"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	if req.KeyID != "" && !validKeyID(req.KeyID) {
		return nil, fail("KMS.0205")
	}
	if req.CipherText == "" {
		return nil, failf("KMS.0204", "The parameter cipher_text is missing.")
	}
	if !req.DatakeyCipherLength.set {
		return nil, failf("KMS.0204", "The parameter datakey_cipher_length is missing.")
	}
	want, ok := req.DatakeyCipherLength.int()
	if !ok || want < 1 || want > 1024 {
		return nil, failf("KMS.2202", "datakey_cipher_length must be 1 to 1024 bytes.")
	}

	blob, decErr := hex.DecodeString(req.CipherText)
	id, ok := blobKeyID(blob, purposeDataKey)
	if decErr != nil || !ok || req.KeyID != "" && id != req.KeyID {
		return nil, fail("KMS.2201")
	}
	if len(blob)-headLen-gcmLen != want {
		return nil, fail("KMS.2204")
	}
	context, err := parseContext(req.EncryptionContext)
	if err != nil {
		return nil, err
	}

	_, dk, err := s.open(blob, purposeDataKey, context, "KMS.2201")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(dk)
	reply := struct {
		DataKey       string `json:"data_key"`
		DatakeyLength string `json:"datakey_length"`
		DatakeyDgst   string `json:"datakey_dgst"`
	}{upperHex(dk), strconv.Itoa(len(dk)), upperHex(sum[:])}
	return reply, nil
}

func (s *Server) genRandom(body []byte) (any, *kmsError) {
	var req struct {
		RandomDataLength number `json:"random_data_length"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	if !req.RandomDataLength.set {
		return nil, failf("KMS.0204", "The parameter random_data_length is missing.")
	}
	n, ok := req.RandomDataLength.int()
	if ok && n%8 != 0 {
		return nil, fail("KMS.1802")
	}
	if !ok || n != 512 {
		return nil, fail("KMS.1801")
	}

	reply := struct {
		RandomData string `json:"random_data"`
	}{upperHex(randomBytes(n / 8))}
	return reply, nil
}

// upperHex encodes b in upper-case hex, as the service writes data keys.
func upperHex(b []byte) string {
	return strings.ToUpper(hex.EncodeToString(b))
}
