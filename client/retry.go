package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/groupsd/groupsd/gen/api"
)

// retrier is the http.Client the generated client sends through. Retrying
// here, below the generated code, puts the whole rule in one place and
// derives it from the request itself: a request that is not safe to repeat
// cannot be retried by accident, whichever operation built it.
type retrier struct {
	next   *http.Client
	policy RetryPolicy
	log    *slog.Logger
}

var _ api.HttpRequestDoer = (*retrier)(nil)

// attemptsKey carries a *int through the request context in which the
// retrier counts the attempts it made, so that an operation can tell "my
// earlier attempt may have landed" from "someone else got there first".
type attemptsKey struct{}

func withAttemptCounter(ctx context.Context) (context.Context, *int) {
	n := new(int)
	return context.WithValue(ctx, attemptsKey{}, n), n
}

// replayable reports whether repeating req cannot do anything the first
// attempt did not: GET, HEAD, PUT and DELETE are idempotent by definition;
// a POST only with an Idempotency-Key (the server replays the first
// outcome); a PATCH only with If-Match (a second application fails the
// precondition instead of applying twice) or an Idempotency-Key
// (changeMembers replays its first outcome).
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	case http.MethodPost:
		return req.Header.Get("Idempotency-Key") != ""
	case http.MethodPatch:
		return req.Header.Get("If-Match") != "" || req.Header.Get("Idempotency-Key") != ""
	}
	return false
}

// Do sends req, and again after a wait while the failure is transient and
// the policy and context allow. It returns the last response or error.
func (r *retrier) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	counter, _ := ctx.Value(attemptsKey{}).(*int)
	canRetry := replayable(req)
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 {
			try = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				try.Body = body
			}
		}
		if counter != nil {
			*counter = attempt
		}
		resp, err := r.next.Do(try) //nolint:gosec // G704: a client sends the requests its caller built, to the caller's server
		if !canRetry || attempt >= r.policy.MaxAttempts || ctx.Err() != nil {
			return resp, err
		}
		reason, floor, retry := transient(resp, err)
		if !retry {
			return resp, err
		}
		wait := max(r.policy.backoff(attempt), floor)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// The wait would outlive the context: answer now with what we have.
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "groupsd: retrying",
			slog.String("method", req.Method), slog.String("path", req.URL.Path),
			slog.Int("attempt", attempt), slog.String("reason", reason), slog.Duration("wait", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (while waiting to retry after %s)", ctx.Err(), reason)
		case <-t.C:
		}
	}
}

// backoff is the full-jitter wait before retry number attempt: uniform in
// [0, min(MaxBackoff, BaseBackoff·2^(attempt-1))].
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.BaseBackoff
	for i := 1; i < attempt && ceiling < p.MaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxBackoff)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1) //nolint:gosec // G404: backoff jitter, not a secret
}

// transient says whether an outcome is worth another attempt, why, and the
// least wait the server asked for (Retry-After on 429 and 503).
func transient(resp *http.Response, err error) (reason string, floor time.Duration, retry bool) {
	if err != nil {
		return err.Error(), 0, true
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		floor, _ = retryAfter(resp.Header)
		return resp.Status, floor, true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return resp.Status, 0, true
	case http.StatusConflict:
		// IDEMPOTENCY_IN_FLIGHT: our own earlier attempt is still running on
		// the server; asking again later gets its outcome. Any other 409 is final.
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var p api.Problem
		if rerr == nil && json.Unmarshal(body, &p) == nil && p.Code == api.IDEMPOTENCYINFLIGHT {
			return string(p.Code), 0, true
		}
	}
	return "", 0, false
}
