package kmstest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/kmsretry/kmsretry"
)

// jsonType is the content type of every JSON answer, as the service writes it.
const jsonType = "application/json;charset=UTF-8"

// answer is what the server sends for one request: a response, or nothing at all when the
// connection is dropped.
type answer struct {
	status     int
	mediaType  string
	body       []byte
	retryAfter string
	code       string // error code answered, "" on success
	noID       bool   // no X-Request-Id header
	drop       bool
}

// kmsError is a KMS error code raised while handling a request, with an optional message
// that replaces the catalogue's.
type kmsError struct {
	code string
	msg  string
}

// fail returns the error code with the catalogue's message.
func fail(code string) *kmsError {
	return &kmsError{code: code}
}

// failf returns the error code with a message of its own.
func failf(code, format string, args ...any) *kmsError {
	return &kmsError{code: code, msg: fmt.Sprintf(format, args...)}
}

// okAnswer returns a 200 answer with v as its JSON body.
func okAnswer(v any) answer {
	return answer{status: http.StatusOK, mediaType: jsonType, body: mustJSON(v)}
}

// errAnswer returns the nested KMS body for e, with the status the catalogue documents.
func errAnswer(e *kmsError) answer {
	return kmsAnswer(e.code, 0, e.msg)
}

// kmsAnswer returns the nested KMS body {"error":{"error_code":...,"error_msg":...}}. A zero
// status and an empty message are taken from the catalogue.
func kmsAnswer(code string, status int, msg string) answer {
	status, msg = describe(code, status, msg)
	type detail struct {
		Code    string `json:"error_code"`
		Message string `json:"error_msg"`
	}
	body := struct {
		Error detail `json:"error"`
	}{detail{code, msg}}
	return answer{status: status, mediaType: jsonType, body: mustJSON(body), code: code}
}

// gatewayAnswer returns the API gateway's flat body, which holds the request id.
func gatewayAnswer(code string, status int, msg, requestID string) answer {
	status, msg = describe(code, status, msg)
	body := struct {
		Code      string `json:"error_code"`
		Message   string `json:"error_msg"`
		RequestID string `json:"request_id"`
	}{code, msg, requestID}
	return answer{status: status, mediaType: jsonType, body: mustJSON(body), code: code}
}

// htmlAnswer returns the error page a proxy sends, with no code and no request id.
func htmlAnswer(status int) answer {
	if status == 0 {
		status = http.StatusBadGateway
	}
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	page := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n" +
		"<center><h1>" + title + "</h1></center>\r\n<hr><center>nginx</center>\r\n" +
		"</body>\r\n</html>\r\n"
	return answer{status: status, mediaType: "text/html", body: []byte(page), noID: true}
}

// describe fills a zero status and an empty message from the catalogue.
func describe(code string, status int, msg string) (int, string) {
	e, known := kmsretry.Lookup(code)
	if status == 0 {
		status = http.StatusInternalServerError
		if known {
			status = e.Status
		}
	}
	if msg == "" {
		msg = "Injected fault."
		if known {
			msg = e.Message
		}
	}
	return status, msg
}

// mustJSON encodes v, which is always one of this package's own reply types.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("kmstest: cannot encode a reply: " + err.Error())
	}
	return b
}

// send writes a to w, or closes the connection when a is a drop.
func send(w http.ResponseWriter, requestID string, a answer) {
	if a.drop {
		drop(w)
		return
	}

	h := w.Header()
	if !a.noID {
		h.Set("X-Request-Id", requestID)
	}
	if a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	h.Set("Content-Type", a.mediaType)
	h.Set("Content-Length", fmt.Sprint(len(a.body)))

	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// drop closes the connection under w without writing anything. Where the connection cannot
// be taken over, aborting the handler has the same effect on the client.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
