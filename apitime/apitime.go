// Package apitime holds the API's timestamp type. The generated models use it
// (through x-go-type in openapi.yaml) because the contract fixes the wire form
// to RFC 3339 in UTC with exactly three fractional digits, which time.Time's
// own JSON encoding does not guarantee (it drops trailing zeros).
package apitime

import (
	"fmt"
	"time"
)

// Layout is the wire form of every timestamp: UTC, milliseconds, always three digits.
const Layout = "2006-01-02T15:04:05.000Z"

// Millis is a point in time with millisecond precision, encoded in Layout.
type Millis struct{ time.Time }

// FromUnixMilli returns the Millis for a count of milliseconds since the Unix epoch.
func FromUnixMilli(ms int64) Millis { return Millis{time.UnixMilli(ms).UTC()} }

// String returns the wire form.
func (m Millis) String() string { return m.UTC().Format(Layout) }

// MarshalJSON encodes the wire form.
func (m Millis) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(Layout)+2)
	b = append(b, '"')
	b = m.UTC().AppendFormat(b, Layout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 timestamp, truncated to milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("apitime: timestamp must be a JSON string")
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("apitime: %w", err)
	}
	m.Time = t.UTC().Truncate(time.Millisecond)
	return nil
}
