package kmsretry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// prepareBody makes the request body replayable: from GetBody when the
// request has one, else from a buffer. A body longer than the buffer is
// sent once, as it is, and the request is not retried.
func (c *call) prepareBody() error {
	req := c.req
	if req.Body == nil || req.Body == http.NoBody {
		c.replayable = true
		return nil
	}
	if req.GetBody != nil {
		c.getBody = req.GetBody
		c.replayable = true
		return nil
	}

	data, err := io.ReadAll(io.LimitReader(req.Body, c.t.maxBuffer+1))
	if err != nil {
		req.Body.Close()
		return c.refuse(fmt.Errorf("kmsretry: reading the request body: %w", err))
	}

	if int64(len(data)) > c.t.maxBuffer {
		// Too long to keep: send what was read, then the rest, once.
		c.firstBody = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), req.Body), req.Body}
		return nil
	}

	req.Body.Close()
	c.getBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	c.firstBody, _ = c.getBody()
	c.replayable = true
	return nil
}

// nextBody returns the body of the next send, or nil to keep the request's
// own body (the first send of a request with GetBody or without a body).
func (c *call) nextBody() (io.ReadCloser, error) {
	if c.attempts == 0 {
		return c.firstBody, nil
	}
	if c.getBody == nil {
		return nil, nil
	}
	return c.getBody()
}

// cancelBody cancels a send's own context when its answer's body is closed,
// so that a per-attempt timeout does not cut off a body still being read.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

// Close closes the body, then cancels the send's context.
func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// maxDrain bounds what discard reads of a body to save its connection; past
// it, closing the connection is cheaper than reading on.
const maxDrain = 256 << 10

// discard reads what is left of a body that nobody will read, up to
// maxDrain, and closes it, so that its connection can serve another request.
// Of a peeked body only the part not yet read from the connection is read.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}

	rest := resp.Body
	if pb, ok := rest.(*peekedBody); ok {
		rest = pb.rest
	}
	if rest != http.NoBody { // a body released whole has nothing left to read
		_, _ = io.CopyN(io.Discard, rest, maxDrain)
	}
	resp.Body.Close()
}
