package http

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
)

// eventStream serves GET /events/stream: Server-Sent Events, from the
// event after Last-Event-ID (or ?after=) on.
//
// Fiber streams a body through fasthttp's SetBodyStreamWriter: the writer
// runs in a goroutine of its own, after the handler has returned and its
// *fiber.Ctx has gone back to the pool, so everything it needs is taken
// here (the stream, opened with the caller, the token and the cursor, and
// the connection), and it never touches c. The request deadline is the
// handler's and ends with it; the stream has none. The server's
// WriteTimeout is set once per answer, so the writer moves the
// connection's write deadline on at each flush: a client that stops
// reading is dropped within streamWriteGrace of its last flush, and a
// client that has gone is found by the next flush failing (a heartbeat at
// the latest).
func (s *Server) eventStream(c *fiber.Ctx) error {
	after, err := streamCursor(c)
	if err != nil {
		return err
	}
	if s.streams == nil || s.draining.Load() {
		return retryElsewhere(c)
	}
	_, token, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	token = strings.Clone(strings.TrimSpace(token))
	st, err := s.streams.Open(c.UserContext(), token, actorOf(c), after)
	if errors.Is(err, application.ErrStreamsClosed) {
		return retryElsewhere(c)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	// Proxies that buffer answers (nginx) must pass this one through.
	c.Set("X-Accel-Buffering", "no")
	if c.Method() == fiber.MethodHead {
		st.Close()
		return nil
	}
	sink := &sseSink{conn: c.Context().Conn(), grace: s.streams.Heartbeat() + streamWriteGrace}
	// The access line is written when the handler returns, as the stream
	// begins; this one says how it ended.
	rid, org, opened := requestID(c), actorOf(c).OrgID, time.Now()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		sink.w = w
		err := st.Run(sink)
		reason := "closed"
		switch {
		case errors.Is(err, application.ErrStreamRevoked), errors.Is(err, application.ErrStreamShutdown):
			reason = err.Error()
		case sink.failed:
			reason = "client gone"
		case err != nil:
			reason = err.Error()
		}
		s.log.Info("event stream ended", "request_id", rid, "organization_id", int64(org),
			"duration", time.Since(opened).Round(time.Millisecond).String(), "reason", reason)
	})
	return nil
}

// streamWriteGrace is how long past a heartbeat a write may take.
const streamWriteGrace = 30 * time.Second

// retryElsewhere answers a stream asked of a replica that is shutting
// down: an empty stream that tells the client to reconnect in a second,
// on a new connection (Connection: close is set while draining), which
// the load balancer sends to another replica.
func retryElsewhere(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Response().Header.SetConnectionClose()
	return c.SendString("retry: 1000\n\n")
}

// streamCursor reads the last event id the client has seen: the
// Last-Event-ID header, which an EventSource sends when it reconnects,
// else ?after=, else 0.
func streamCursor(c *fiber.Ctx) (int64, error) {
	var fields []domain.FieldError
	after := int64(0)
	seen := false
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if string(k) != "after" {
			fields = append(fields, domain.FieldError{Field: string(k), Message: "is not a query parameter of this endpoint"})
			return
		}
		if seen {
			fields = append(fields, domain.FieldError{Field: "after", Message: "must be given at most once"})
			return
		}
		seen = true
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			fields = append(fields, domain.FieldError{Field: "after", Message: "must be an event id (an integer, 0 or more)"})
			return
		}
		after = n
	})
	if h := strings.TrimSpace(c.Get("Last-Event-ID")); h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			fields = append(fields, domain.FieldError{Field: "Last-Event-ID", Message: "must be an event id (an integer, 0 or more)"})
		}
		after = n
	}
	if len(fields) > 0 {
		return 0, domain.Invalid(fields...)
	}
	return after, nil
}

// sseSink writes a stream's frames to its connection.
type sseSink struct {
	w     *bufio.Writer
	conn  net.Conn
	grace time.Duration
	buf   []byte
	// failed: a write failed (the client has gone, or stopped reading).
	failed bool
}

// Event writes "id: <id>\nevent: <type>\ndata: <event JSON>\n\n". The
// JSON has no newline in it (encoding/json escapes them in strings).
func (k *sseSink) Event(e *domain.Event) error {
	body, err := MarshalEvent(e)
	if err != nil {
		return err
	}
	b := append(k.buf[:0], "id: "...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, "\nevent: "...)
	b = append(b, e.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, body...)
	b = append(b, "\n\n"...)
	k.buf = b
	return k.flush(b)
}

// Ping writes the heartbeat comment.
func (k *sseSink) Ping() error { return k.flush([]byte(": ping\n\n")) }

func (k *sseSink) flush(b []byte) error {
	if k.conn != nil {
		_ = k.conn.SetWriteDeadline(time.Now().Add(k.grace))
	}
	_, err := k.w.Write(b)
	if err == nil {
		err = k.w.Flush()
	}
	k.failed = err != nil
	return err
}
