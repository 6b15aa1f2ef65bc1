package kmstest

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Key states as the vendor's API writes them.
const (
	stateEnabled  = "2"
	stateDisabled = "3"
)

// key is one customer master key. Its material is never written after creation.
type key struct {
	id          string
	alias       string
	description string
	created     string
	state       string
	material    []byte
}

// keyStore holds the keys in creation order, with indexes by id and alias.
type keyStore struct {
	mu      sync.Mutex
	byID    map[string]*key
	aliases map[string]bool
	order   []*key
}

func newKeyStore() *keyStore {
	return &keyStore{byID: make(map[string]*key), aliases: make(map[string]bool)}
}

// add stores k unless its alias is taken.
func (st *keyStore) add(k *key) *kmsError {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.aliases[k.alias] {
		return fail("KMS.1104")
	}
	st.byID[k.id] = k
	st.aliases[k.alias] = true
	st.order = append(st.order, k)
	return nil
}

// get returns a copy of the key with id, which must be well formed and known.
func (st *keyStore) get(id string) (key, *kmsError) {
	if id == "" {
		return key{}, failf("KMS.0204", "The parameter key_id is missing.")
	}
	if !validKeyID(id) {
		return key{}, fail("KMS.0205")
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	k, ok := st.byID[id]
	if !ok {
		return key{}, fail("KMS.0207")
	}
	return *k, nil
}

// usable returns a copy of the key with id, which must also be enabled.
func (st *keyStore) usable(id string) (key, *kmsError) {
	k, err := st.get(id)
	if err != nil {
		return key{}, err
	}
	if k.state != stateEnabled {
		return key{}, fail("KMS.0209")
	}
	return k, nil
}

// move sets the state of the key with id from one state to another. A key in any other
// state answers wrong.
func (st *keyStore) move(id, from, to, wrong string) (key, *kmsError) {
	if _, err := st.get(id); err != nil {
		return key{}, err
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	k := st.byID[id]
	if k.state != from {
		return key{}, fail(wrong)
	}
	k.state = to
	return *k, nil
}

// list returns copies of the keys in creation order, only those in state unless it is "".
func (st *keyStore) list(state string) []key {
	st.mu.Lock()
	defer st.mu.Unlock()

	out := make([]key, 0, len(st.order))
	for _, k := range st.order {
		if state == "" || k.state == state {
			out = append(out, *k)
		}
	}
	return out
}

// keyInfo is the key_info object of the vendor's API. Each reply fills what it reports.
type keyInfo struct {
	KeyID          string `json:"key_id"`
	DomainID       string `json:"domain_id,omitempty"`
	KeyAlias       string `json:"key_alias,omitempty"`
	KeyDescription string `json:"key_description,omitempty"`
	CreationDate   string `json:"creation_date,omitempty"`
	KeyState       string `json:"key_state,omitempty"`
	DefaultKeyFlag string `json:"default_key_flag,omitempty"`
	KeyType        string `json:"key_type,omitempty"`
	KeySpec        string `json:"key_spec,omitempty"`
	KeyUsage       string `json:"key_usage,omitempty"`
	Origin         string `json:"origin,omitempty"`
}

// keyInfoReply is the reply of create-key, describe-key, enable-key and disable-key.
type keyInfoReply struct {
	KeyInfo keyInfo `json:"key_info"`
}

// keyIDRequest is the body of the actions that name only a key.
type keyIDRequest struct {
	KeyID string `json:"key_id"`
}

// info returns everything describe-key reports about k.
func (s *Server) info(k key) keyInfo {
	return keyInfo{
		KeyID:          k.id,
		DomainID:       s.domainID,
		KeyAlias:       k.alias,
		KeyDescription: k.description,
		CreationDate:   k.created,
		KeyState:       k.state,
		DefaultKeyFlag: "0",
		KeyType:        "1",
		KeySpec:        "AES_256",
		KeyUsage:       "ENCRYPT_DECRYPT",
		Origin:         "kms",
	}
}

func (s *Server) createKey(body []byte) (any, *kmsError) {
	var req struct {
		KeyAlias       string `json:"key_alias"`
		KeyDescription string `json:"key_description"`
		KeySpec        string `json:"key_spec"`
		KeyUsage       string `json:"key_usage"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	switch {
	case req.KeyAlias == "":
		return nil, failf("KMS.0204", "The parameter key_alias is missing.")
	case !validAlias(req.KeyAlias):
		return nil, fail("KMS.1101")
	case len(req.KeyDescription) > 255:
		return nil, fail("KMS.1103")
	case req.KeySpec != "" && req.KeySpec != "AES_256":
		return nil, failf("KMS.0308", "Only key_spec AES_256 is served.")
	case req.KeyUsage != "" && req.KeyUsage != "ENCRYPT_DECRYPT":
		return nil, failf("KMS.0308", "Only key_usage ENCRYPT_DECRYPT is served.")
	}

	k := &key{
		id:          newKeyID(),
		alias:       req.KeyAlias,
		description: req.KeyDescription,
		created:     strconv.FormatInt(time.Now().UnixMilli(), 10),
		state:       stateEnabled,
		material:    randomBytes(32),
	}
	if err := s.keys.add(k); err != nil {
		return nil, err
	}
	return keyInfoReply{keyInfo{KeyID: k.id, DomainID: s.domainID}}, nil
}

func (s *Server) describeKey(body []byte) (any, *kmsError) {
	var req keyIDRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	k, err := s.keys.get(req.KeyID)
	if err != nil {
		return nil, err
	}
	return keyInfoReply{s.info(k)}, nil
}

func (s *Server) listKeys(body []byte) (any, *kmsError) {
	var req struct {
		Limit    number `json:"limit"`
		Marker   number `json:"marker"`
		KeyState string `json:"key_state"`
	}
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	limit, marker := 1000, 0
	if req.Limit.set {
		n, ok := req.Limit.int()
		if !ok || n < 1 || n > 1000 {
			return nil, fail("KMS.1601")
		}
		limit = n
	}
	if req.Marker.set {
		n, ok := req.Marker.int()
		if !ok || n < 0 {
			return nil, fail("KMS.1602")
		}
		marker = n
	}

	keys := s.keys.list(req.KeyState)
	start := min(marker, len(keys))
	end := min(start+limit, len(keys))
	reply := struct {
		Keys       []string  `json:"keys"`
		KeyDetails []keyInfo `json:"key_details"`
		NextMarker string    `json:"next_marker"`
		Truncated  string    `json:"truncated"`
		Total      int       `json:"total"`
	}{Keys: []string{}, KeyDetails: []keyInfo{}, Truncated: "false", Total: len(keys)}
	for _, k := range keys[start:end] {
		reply.Keys = append(reply.Keys, k.id)
		reply.KeyDetails = append(reply.KeyDetails, s.info(k))
	}
	if end < len(keys) {
		reply.NextMarker, reply.Truncated = strconv.Itoa(end), "true"
	}
	return reply, nil
}

func (s *Server) enableKey(body []byte) (any, *kmsError) {
	return s.setState(body, stateDisabled, stateEnabled, "KMS.1201")
}

func (s *Server) disableKey(body []byte) (any, *kmsError) {
	return s.setState(body, stateEnabled, stateDisabled, "KMS.1301")
}

// setState moves the key named by body from one state to another; a key in any other state
// answers wrong.
func (s *Server) setState(body []byte, from, to, wrong string) (any, *kmsError) {
	var req keyIDRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}

	k, err := s.keys.move(req.KeyID, from, to, wrong)
	if err != nil {
		return nil, err
	}
	return keyInfoReply{keyInfo{KeyID: k.id, KeyState: k.state}}, nil
}

// validKeyID reports whether id has the form of a key id: a UUID in lower-case hex.
func validKeyID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range []byte(id) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// validAlias reports whether alias is a valid key_alias: 1 to 255 letters, digits and the
// characters ":/_-", not ending in "/default", which names the service's default keys.
func validAlias(alias string) bool {
	if len(alias) == 0 || len(alias) > 255 || strings.HasSuffix(alias, "/default") {
		return false
	}
	for _, c := range []byte(alias) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == ':' || c == '/' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}
