package apitest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// Snapshot is a group's content as the API shows it, version included.
type Snapshot struct {
	Name      string
	Desc      *string
	Version   int64
	CreatedAt string
	UpdatedAt string
	// ETag is the tag the server sent with this state ("" when the state is
	// a prediction or comes from a list): what a client sends in If-Match.
	ETag string
}

func (s Snapshot) String() string {
	d := "null"
	if s.Desc != nil {
		d = strconv.Quote(*s.Desc)
	}
	return fmt.Sprintf("{name %q, description %s, version %d, created %s, updated %s}", s.Name, d, s.Version, s.CreatedAt, s.UpdatedAt)
}

// Equal reports whether s and o show the same group state (the ETag
// spelling aside: Version is read from it).
func (s Snapshot) Equal(o Snapshot) bool {
	return s.Name == o.Name && EqualDesc(s.Desc, o.Desc) && s.Version == o.Version &&
		s.CreatedAt == o.CreatedAt && s.UpdatedAt == o.UpdatedAt
}

// SnapshotOf reads a group and the ETag it came with.
func SnapshotOf(g api.Group, etag string) (Snapshot, error) {
	v, err := VersionOf(etag)
	if err != nil {
		return Snapshot{}, err
	}
	s := contentOf(g)
	s.Version, s.ETag = v, etag
	return s, nil
}

// contentOf is g without a version: a listed group carries no ETag.
func contentOf(g api.Group) Snapshot {
	s := Snapshot{Name: g.Name, CreatedAt: g.CreatedAt.String(), UpdatedAt: g.UpdatedAt.String()}
	if g.Description.IsSpecified() && !g.Description.IsNull() {
		d := g.Description.MustGet()
		s.Desc = &d
	}
	return s
}

var strongVersionTag = regexp.MustCompile(`^"([1-9][0-9]*)"$`)

// VersionOf reads the version a group's ETag names. The server's tags are
// strong, quoted, canonical positive integers; anything else is an error.
func VersionOf(etag string) (int64, error) {
	m := strongVersionTag.FindStringSubmatch(etag)
	if m == nil {
		return 0, fmt.Errorf("malformed ETag %q", etag)
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed ETag %q: %w", etag, err)
	}
	return v, nil
}

// EqualDesc compares two optional descriptions.
func EqualDesc(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// FormatDesc is a description for a failure message.
func FormatDesc(d *string) string {
	if d == nil {
		return "null"
	}
	return strconv.Quote(*d)
}

// Write is an update or delete whose outcome is unknown.
type Write struct {
	Del     bool
	Name    *string
	SetDesc bool
	Desc    *string
}

// Apply returns s after the update w, as the server would store it (its
// updatedAt is unknown and kept from s; its ETag is unknown and empty).
func Apply(s Snapshot, w *Write) Snapshot {
	out := s
	if w.Name != nil {
		out.Name = *w.Name
	}
	if w.SetDesc {
		out.Desc = w.Desc
	}
	out.Version++
	out.ETag = ""
	return out
}

// Tracked is one group the API acknowledged creating.
type Tracked struct {
	UUID string
	Cur  Snapshot // the last acknowledged state
	Gone bool     // an acknowledged delete
	// Pending is a write sent after Cur whose outcome is unknown: the group
	// must then be in state Cur or in Cur with Pending applied.
	Pending *Write
}

// LostCreate is a create whose outcome is unknown.
type LostCreate struct {
	Name string
	Desc *string
	Key  string // Idempotency-Key, or ""
}

// KeyUse is the outcome an Idempotency-Key was first used for: a later
// request with the key and the same Fingerprint must replay it byte for
// byte; one with another fingerprint is 422.
type KeyUse struct {
	Fingerprint string
	Status      int
	Body        []byte
}

// Model is what one organization's groups must be. It is safe for
// concurrent use by the load generator's workers.
type Model struct {
	mu      sync.Mutex
	groups  map[string]*Tracked
	order   []*Tracked // groups in the order the model learnt of them
	creates []LostCreate
	keys    map[string]KeyUse
	// Seq makes names unique across rounds and workers.
	Seq atomic.Int64

	// How the outcomes nobody knew turned out, over every Verify.
	landed, vanished int // unknown writes found applied / not applied
	replayed, rerun  int // idempotent creates retried: replayed / created now
	stillClaimed     int // idempotent creates retried: 409, key still claimed
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{groups: map[string]*Tracked{}, keys: map[string]KeyUse{}}
}

// Outcomes summarizes how the unknown outcomes turned out, for a test log.
func (m *Model) Outcomes() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("unknown outcomes: %d had happened, %d had not; idempotent retries: %d replayed, %d created now, %d still claimed (409)",
		m.landed, m.vanished, m.replayed, m.rerun, m.stillClaimed)
}

// Add records an acknowledged create.
func (m *Model) Add(g *Tracked) {
	m.mu.Lock()
	m.add(g)
	m.mu.Unlock()
}

func (m *Model) add(g *Tracked) {
	if _, known := m.groups[g.UUID]; !known {
		m.order = append(m.order, g)
	}
	m.groups[g.UUID] = g
}

// Lose records a create whose outcome is unknown.
func (m *Model) Lose(c LostCreate) {
	m.mu.Lock()
	m.creates = append(m.creates, c)
	m.mu.Unlock()
}

// All returns every group the model knows, deleted ones included, in the
// order it learnt of them.
func (m *Model) All() []*Tracked {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Tracked(nil), m.order...)
}

// Live returns the groups that exist and have no pending write, in a stable order.
func (m *Model) Live() []*Tracked {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Tracked
	for _, g := range m.groups {
		if !g.Gone && g.Pending == nil {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

// Taken reports whether name, once trimmed, collides with a live group
// other than except under the store's name key (NFC and case folding).
func (m *Model) Taken(name string, except *Tracked) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := store.NameKey(strings.TrimFunc(name, unicode.IsSpace))
	for _, g := range m.groups {
		if !g.Gone && g != except && store.NameKey(g.Cur.Name) == k {
			return true
		}
	}
	return false
}

// FirstUse returns the outcome key was first used for.
func (m *Model) FirstUse(key string) (KeyUse, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.keys[key]
	return u, ok
}

// Use records the first outcome of key.
func (m *Model) Use(key string, u KeyUse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[key] = u
}
