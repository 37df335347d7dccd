package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/groupsd/groupsd/gen/api"
)

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.1.0"

// Client talks to one groupsd server. It is safe for concurrent use; make
// one and share it.
type Client struct {
	// Groups creates, reads, lists, updates and deletes groups.
	Groups *GroupService
	// Members adds, reads, lists and removes the members of groups, and
	// lists the groups of a user.
	Members *MemberService
	// References registers, reads, lists and removes what other systems
	// hang on a group (a referenced group cannot be deleted).
	References *ReferenceService
	// Trash lists, reads, restores and purges deleted groups.
	Trash *TrashService

	api            *api.ClientWithResponses
	retry          RetryPolicy
	updateAttempts int
	log            *slog.Logger
}

// RetryPolicy says how often and how patiently a request is retried. Only
// requests that are safe to repeat are retried (see the package doc).
type RetryPolicy struct {
	// MaxAttempts counts every try, the first included: 1 disables retries.
	MaxAttempts int
	// BaseBackoff is the ceiling of the first wait; each further retry
	// doubles it, up to MaxBackoff. The actual wait is drawn uniformly
	// below the ceiling ("full jitter") so that clients that failed
	// together do not retry together.
	BaseBackoff time.Duration
	// MaxBackoff caps the ceiling. A server's Retry-After may ask for more
	// and is honoured, as long as the context allows.
	MaxBackoff time.Duration
}

// DefaultRetryPolicy is used unless WithRetryPolicy says otherwise.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 4, BaseBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}

// DefaultUpdateAttempts bounds the read-modify-write rounds of Update.
const DefaultUpdateAttempts = 16

// Option configures a Client.
type Option func(*config) error

type config struct {
	apiKey         string
	httpClient     *http.Client
	userAgent      string
	retry          RetryPolicy
	updateAttempts int
	log            *slog.Logger
}

// WithAPIKey authenticates every request with key (gk_...).
func WithAPIKey(key string) Option {
	return func(c *config) error {
		if key == "" {
			return errors.New("groupsd: empty API key")
		}
		c.apiKey = key
		return nil
	}
}

// WithHTTPClient sends requests through hc (its transport, timeouts,
// proxies). The default is a new http.Client with no timeout: bound calls
// with their context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("groupsd: nil http.Client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithUserAgent puts product (such as "billing-sync/1.2") in front of the
// SDK's own User-Agent.
func WithUserAgent(product string) Option {
	return func(c *config) error {
		c.userAgent = product
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if p.MaxAttempts < 1 || p.BaseBackoff < 0 || p.MaxBackoff < p.BaseBackoff {
			return fmt.Errorf("groupsd: invalid retry policy %+v", p)
		}
		c.retry = p
		return nil
	}
}

// WithUpdateAttempts bounds the read-modify-write rounds of
// GroupService.Update (default DefaultUpdateAttempts).
func WithUpdateAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("groupsd: update attempts %d < 1", n)
		}
		c.updateAttempts = n
		return nil
	}
}

// WithLogger logs retries and their reasons to l. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("groupsd: nil logger")
		}
		c.log = l
		return nil
	}
}

// New returns a client for the server at baseURL, such as
// "https://groups.example.com". The API's "/api" prefix is added unless
// baseURL already ends with it.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("groupsd: base URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/api") {
		u.Path += "/api"
	}
	cfg := config{
		httpClient:     &http.Client{},
		retry:          DefaultRetryPolicy,
		updateAttempts: DefaultUpdateAttempts,
		log:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ua := "groupsd-go/" + Version
	if cfg.userAgent != "" {
		ua = cfg.userAgent + " " + ua
	}
	doer := &retrier{next: cfg.httpClient, policy: cfg.retry, log: cfg.log}
	headers := func(_ context.Context, r *http.Request) error {
		if cfg.apiKey != "" {
			r.Header.Set("Authorization", "Bearer "+cfg.apiKey)
		}
		r.Header.Set("User-Agent", ua)
		return nil
	}
	gc, err := api.NewClientWithResponses(u.String(), api.WithHTTPClient(doer), api.WithRequestEditorFn(headers))
	if err != nil {
		return nil, fmt.Errorf("groupsd: %w", err)
	}
	c := &Client{api: gc, retry: cfg.retry, updateAttempts: cfg.updateAttempts, log: cfg.log}
	c.Groups = &GroupService{c: c}
	c.Members = &MemberService{c: c}
	c.References = &ReferenceService{c: c}
	c.Trash = &TrashService{c: c}
	return c, nil
}

// API returns the generated client underneath, for operations this package
// does not wrap. Its requests share the SDK's authentication, User-Agent
// and retry rules.
func (c *Client) API() *api.ClientWithResponses { return c.api }
