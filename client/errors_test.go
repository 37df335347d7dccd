package client_test

import (
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

var sentinels = []error{
	client.ErrValidation, client.ErrUnauthorized, client.ErrInsufficientScope, client.ErrNotFound, client.ErrMethodNotAllowed,
	client.ErrNotAcceptable, client.ErrNameTaken, client.ErrIdempotencyInFlight, client.ErrIdempotencyKeyReused,
	client.ErrPreconditionFailed, client.ErrPayloadTooLarge, client.ErrUnsupportedMediaType,
	client.ErrPreconditionRequired, client.ErrRateLimited, client.ErrInternal, client.ErrUnavailable,
	client.ErrMemberNotFound, client.ErrMemberLimitExceeded, client.ErrGroupLimitExceeded,
	client.ErrGroupArchived, client.ErrGroupInUse, client.ErrReferenceNotFound,
}

// byCode is the documented status and sentinel of every problem code.
var byCode = []struct {
	code   string
	status int
	want   error
}{
	{"VALIDATION_ERROR", 400, client.ErrValidation},
	{"UNAUTHORIZED", 401, client.ErrUnauthorized},
	{"INSUFFICIENT_SCOPE", 403, client.ErrInsufficientScope},
	{"RATE_LIMITED", 429, client.ErrRateLimited},
	{"NOT_FOUND", 404, client.ErrNotFound},
	{"METHOD_NOT_ALLOWED", 405, client.ErrMethodNotAllowed},
	{"NOT_ACCEPTABLE", 406, client.ErrNotAcceptable},
	{"MEMBER_NOT_FOUND", 404, client.ErrMemberNotFound},
	{"REFERENCE_NOT_FOUND", 404, client.ErrReferenceNotFound},
	{"GROUP_ARCHIVED", 409, client.ErrGroupArchived},
	{"GROUP_IN_USE", 409, client.ErrGroupInUse},
	{"NAME_CONFLICT", 409, client.ErrNameTaken},
	{"IDEMPOTENCY_IN_FLIGHT", 409, client.ErrIdempotencyInFlight},
	{"PRECONDITION_FAILED", 412, client.ErrPreconditionFailed},
	{"PAYLOAD_TOO_LARGE", 413, client.ErrPayloadTooLarge},
	{"UNSUPPORTED_MEDIA_TYPE", 415, client.ErrUnsupportedMediaType},
	{"IDEMPOTENCY_KEY_REUSED", 422, client.ErrIdempotencyKeyReused},
	{"MEMBER_LIMIT_EXCEEDED", 422, client.ErrMemberLimitExceeded},
	{"GROUP_LIMIT_EXCEEDED", 422, client.ErrGroupLimitExceeded},
	{"PRECONDITION_REQUIRED", 428, client.ErrPreconditionRequired},
	{"INTERNAL", 500, client.ErrInternal},
	{"SERVICE_UNAVAILABLE", 503, client.ErrUnavailable},
}

func TestEverySentinelMapsFromItsProblemCode(t *testing.T) {
	noRetry := client.WithRetryPolicy(client.RetryPolicy{MaxAttempts: 1})
	for _, tc := range byCode {
		t.Run(tc.code, func(t *testing.T) {
			body := `{"type":"urn:groupsd:problem:x","title":"Title","status":` + strconv.Itoa(tc.status) +
				`,"detail":"what happened","instance":"/api/v2/groups","code":"` + tc.code +
				`","requestId":"req-42","errors":[{"pointer":"/name","detail":"must not be blank"},{"parameter":"size","detail":"too big"}]}`
			url, _ := stub(t, tc.status, nil, body)
			_, err := newClient(t, url, "gk_test", noRetry).Groups.Get(bg, api.GroupUUID{})
			assertOnly(t, err, tc.want)
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not an *client.Error", err)
			}
			if e.Status != tc.status || e.Code != tc.code || e.Detail != "what happened" || e.RequestID != "req-42" || e.Title != "Title" {
				t.Errorf("Error = %+v", e)
			}
			wantFields := []client.FieldError{{Pointer: "/name", Detail: "must not be blank"}, {Parameter: "size", Detail: "too big"}}
			if !slices.Equal(e.Errors, wantFields) {
				t.Errorf("Errors = %+v, want %+v", e.Errors, wantFields)
			}
		})
	}
	t.Run("429IsRateLimited", func(t *testing.T) {
		url, _ := stub(t, 429, http.Header{"Retry-After": {"7"}}, `{"status":429,"code":"RATE_LIMITED","title":"Too Many Requests","detail":"slow down","requestId":"r"}`)
		_, err := newClient(t, url, "gk_test", noRetry).Groups.Get(bg, api.GroupUUID{})
		assertOnly(t, err, client.ErrRateLimited)
		if e := (*client.Error)(nil); !errors.As(err, &e) || e.RetryAfter.Seconds() != 7 {
			t.Errorf("err = %#v, want RetryAfter 7s", err)
		}
	})
	t.Run("NotAProblemFallsBackToTheStatus", func(t *testing.T) {
		for status, want := range map[int]error{502: client.ErrUnavailable, 404: client.ErrNotFound, 500: client.ErrInternal} {
			url, _ := stub(t, status, http.Header{"Content-Type": {"text/html"}, "X-Request-Id": {"edge-1"}}, "<h1>oops</h1>")
			_, err := newClient(t, url, "gk_test", noRetry).Groups.Get(bg, api.GroupUUID{})
			assertOnly(t, err, want)
			if e := (*client.Error)(nil); !errors.As(err, &e) || e.RequestID != "edge-1" || e.Code != "" {
				t.Errorf("%d: err = %#v", status, err)
			}
		}
	})
}

// assertOnly checks that err matches want and no other sentinel.
func assertOnly(t *testing.T, err, want error) {
	t.Helper()
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, s == want)
		}
	}
}

// TestSentinelTableCoversTheSpec keeps the table above, and so the SDK's
// mapping, in step with the ProblemCode enum of openapi.yaml.
func TestSentinelTableCoversTheSpec(t *testing.T) {
	raw, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas struct {
				ProblemCode struct {
					Enum []string `yaml:"enum"`
				} `yaml:"ProblemCode"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	codes := spec.Components.Schemas.ProblemCode.Enum
	if len(codes) == 0 {
		t.Fatal("no ProblemCode enum in openapi.yaml")
	}
	var tested []string
	for _, tc := range byCode {
		tested = append(tested, tc.code)
	}
	slices.Sort(codes)
	slices.Sort(tested)
	if !slices.Equal(codes, tested) {
		t.Fatalf("openapi.yaml codes %v, tested codes %v: map every new code to a sentinel", codes, tested)
	}
}

// TestErrorsFromARealServer drives the common failures through the real stack.
func TestErrorsFromARealServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		c := srv.client(t)
		g, err := c.Groups.Create(bg, client.NewGroup{Name: "Finance"})
		if err != nil {
			t.Fatal(err)
		}
		stale := g
		if _, err := c.Groups.Update(bg, g.UUID, func(g *client.Group) error { g.Description = ptr("changed"); return nil }); err != nil {
			t.Fatal(err)
		}
		_, getErr := c.Groups.Get(bg, [16]byte{7})
		_, dupErr := c.Groups.Create(bg, client.NewGroup{Name: "FINANCE"})
		_, blankErr := c.Groups.Create(bg, client.NewGroup{Name: ""})
		_, staleErr := c.Groups.Replace(bg, stale)
		_, authErr := newClient(t, srv.url, "gk_nope_nope").Groups.Get(bg, g.UUID)
		delErr := c.Groups.Delete(bg, [16]byte{7})
		for _, tc := range []struct {
			name string
			err  error
			want error
		}{
			{"GetMissing", getErr, client.ErrNotFound},
			{"DuplicateName", dupErr, client.ErrNameTaken},
			{"BlankName", blankErr, client.ErrValidation},
			{"StaleReplace", staleErr, client.ErrPreconditionFailed},
			{"BadKey", authErr, client.ErrUnauthorized},
			{"DeleteMissing", delErr, client.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertOnly(t, tc.err, tc.want)
				var e *client.Error
				if !errors.As(tc.err, &e) || e.RequestID == "" || e.Detail == "" {
					t.Fatalf("err = %#v, want an *Error with detail and request id", tc.err)
				}
			})
		}
		var e *client.Error
		if errors.As(blankErr, &e); len(e.Errors) == 0 || e.Errors[0].Pointer != "/name" {
			t.Errorf("blank name field errors = %+v, want one for /name", e.Errors)
		}
	})
}
