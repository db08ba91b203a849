package application

import "context"

// WithRequest returns ctx carrying what the use cases keep per request:
// its id (RequestID, as WithRequestID) and an empty cache snapshot (as
// WithCacheSnapshot), in one allocation instead of the three that the two
// separate wrappers cost. Give one to each request, and only to one
// request; it is not safe for concurrent use, as a snapshot is not.
func WithRequest(ctx context.Context, id string) context.Context {
	return &requestScope{Context: ctx, id: id}
}

// requestScope answers the request's own keys and asks its parent for
// the others.
type requestScope struct {
	context.Context
	id   string
	snap snapshot
}

func (r *requestScope) Value(key any) any {
	switch key.(type) {
	case requestIDKey:
		return r.id
	case snapshotKey:
		return &r.snap
	}
	return r.Context.Value(key)
}
