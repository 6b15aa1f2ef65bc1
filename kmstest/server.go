package kmstest

import (
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBody is the largest request body the server reads; a longer one answers KMS.0203.
const maxBody = 1 << 20

// Server is a KMS stand-in listening on a loopback port. It is safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:port, with no trailing slash.
	URL string

	cfg      config
	srv      *http.Server
	served   chan struct{}
	client   *http.Client
	gate     gate
	once     sync.Once
	domainID string

	keys   *keyStore
	tokens *tokenStore
	plan   *faultPlan
	stats  *recorder
}

// action carries out one KMS action on a request body and returns the reply to encode.
type action func(s *Server, body []byte) (any, *kmsError)

// actions maps each action name of the path to its handler.
var actions = map[string]action{
	"create-key":                       (*Server).createKey,
	"describe-key":                     (*Server).describeKey,
	"list-keys":                        (*Server).listKeys,
	"enable-key":                       (*Server).enableKey,
	"disable-key":                      (*Server).disableKey,
	"encrypt-data":                     (*Server).encryptData,
	"decrypt-data":                     (*Server).decryptData,
	"create-datakey":                   (*Server).createDatakey,
	"create-datakey-without-plaintext": (*Server).createDatakeyBare,
	"decrypt-datakey":                  (*Server).decryptDatakey,
	"gen-random":                       (*Server).genRandom,
}

// NewServer starts a server on a random loopback port. It panics if no port can be opened,
// or if an option is invalid.
func NewServer(opts ...Option) *Server {
	cfg := config{seed: 1}
	for _, opt := range opts {
		opt(&cfg)
	}

	s := &Server{
		cfg:      cfg,
		served:   make(chan struct{}),
		client:   newClient(),
		domainID: newHex(16),
		keys:     newKeyStore(),
		tokens:   newTokenStore(cfg.token),
		plan:     newFaultPlan(cfg.seed),
		stats:    newRecorder(),
	}
	for _, setup := range cfg.setups {
		setup(s)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("kmstest: cannot listen on a loopback port: %v", err))
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}

	go func() {
		_ = s.srv.Serve(ln)
		close(s.served)
	}()
	return s
}

// newClient returns a client of its own, so that closing the server can close its idle
// connections without touching anyone else's.
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr}
}

// Close waits for the requests in progress to be answered, then stops the server and closes
// its connections. Requests arriving meanwhile get their connection closed. Close may be
// called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.gate.close()
		s.srv.Close()
		<-s.served
		s.client.CloseIdleConnections()
	})
}

// Client returns an HTTP client for the server, with no proxy and a transport of its own
// whose idle connections [Server.Close] closes.
func (s *Server) Client() *http.Client {
	return s.client
}

// ActionURL returns the URL of a KMS action for a project, such as
// http://127.0.0.1:port/v1.0/{projectID}/kms/encrypt-data.
func (s *Server) ActionURL(projectID, action string) string {
	return s.URL + "/v1.0/" + projectID + "/kms/" + action
}

// serve answers one request and records the exchange.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.gate.enter() {
		panic(http.ErrAbortHandler)
	}
	defer s.gate.leave()

	rec := Record{
		RequestID: newHex(16),
		Method:    r.Method,
		Path:      r.URL.Path,
		Header:    r.Header.Clone(),
	}
	a := s.answer(r, &rec)

	rec.Status, rec.Code = a.status, a.code
	if a.noID || a.drop {
		rec.RequestID = ""
	}
	if s.cfg.hook != nil {
		s.cfg.hook(rec)
	}

	send(w, rec.RequestID, a)
}

// answer reads the request, counts it and decides its answer: a scripted or drawn fault, or
// the action's own result.
func (s *Server) answer(r *http.Request, rec *Record) answer {
	name, ok := parseAction(r.URL.Path)
	if !ok {
		return gatewayAnswer("APIGW.0101", 404, "The API does not exist.", rec.RequestID)
	}
	rec.Action = name

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	rec.Body = body
	s.stats.received(name, r.Header, body)
	if err != nil {
		return errAnswer(failf("KMS.0202", "The request body cannot be read."))
	}
	if len(body) > maxBody {
		return errAnswer(fail("KMS.0203"))
	}

	f, faulty := s.plan.next(name)
	if faulty && !f.AfterEffect {
		return s.inject(f, rec)
	}

	a := s.handle(r, name, body)
	if a.status == http.StatusOK {
		s.stats.applied(name)
		rec.Applied = true
	}

	if faulty {
		return s.inject(f, rec)
	}
	return a
}

// handle checks the credentials and carries out the action.
func (s *Server) handle(r *http.Request, name string, body []byte) answer {
	if err := s.tokens.check(r.Header); err != nil {
		return errAnswer(err)
	}

	act, ok := actions[name]
	if !ok || r.Method != http.MethodPost {
		return errAnswer(failf("KMS.0201", "No action %s %q.", r.Method, name))
	}

	reply, err := act(s, body)
	if err != nil {
		return errAnswer(err)
	}
	return okAnswer(reply)
}

// inject counts fault f and returns its answer.
func (s *Server) inject(f Fault, rec *Record) answer {
	name := f.String()
	s.stats.injected(name)
	rec.Fault = name

	var a answer
	switch f.Kind {
	case KindDrop:
		a = answer{drop: true}
	case KindHTML:
		a = htmlAnswer(f.Status)
	case KindGateway:
		a = gatewayAnswer(f.Code, f.Status, f.Message, rec.RequestID)
	default:
		a = kmsAnswer(f.Code, f.Status, f.Message)
	}
	a.retryAfter = f.RetryAfter
	return a
}

// parseAction returns the action of a path /v1.0/{project_id}/kms/{action}. It reports false
// for a path of any other shape, which the gateway answers.
func parseAction(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/v1.0/")
	if !ok {
		return "", false
	}

	project, name, ok := strings.Cut(rest, "/kms/")
	if !ok || project == "" || strings.Contains(project, "/") || name == "" {
		return "", false
	}
	return name, true
}

// newHex returns n random bytes in lower-case hex.
func newHex(n int) string {
	return hex.EncodeToString(randomBytes(n))
}

// gate lets handlers in until the server closes, and lets Close wait for those inside.
type gate struct {
	mu     sync.Mutex
	closed bool
	active sync.WaitGroup
}

// enter admits a handler, or reports false once the server is closing.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.active.Add(1)
	return true
}

func (g *gate) leave() {
	g.active.Done()
}

// close turns new handlers away and waits for the admitted ones to finish.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.active.Wait()
}
