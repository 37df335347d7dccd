package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen/api"
)

// The two hottest responses, a group and a page of groups, are written by
// hand instead of through encoding/json's reflection and the models'
// MarshalJSON methods, which cost a third of a list request's CPU (see
// docs/performance.md, "How it got here"). They encode the generated types
// (api.Group, api.GroupPage), never store types, so toAPI stays the one
// mapping from store to wire. The bytes are exactly what encoding/json
// writes for the generated responses: same property order, same escaping,
// same trailing newline. fastjson_test.go proves it for every field it finds
// by reflection, so a property added to the spec fails the test until the
// encoder writes it.

// groupResponse is a group with its ETag: getGroup's, updateGroup's and
// replaceGroup's 200, and with a Location createGroup's 201.
type groupResponse struct {
	g        api.Group
	etag     string
	location string // set for 201 Created
}

func (r groupResponse) write(w http.ResponseWriter) error {
	buf := getBuf()
	defer putBuf(buf)
	b := append(appendGroup((*buf)[:0], &r.g), '\n')
	*buf = b
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", r.etag)
	status := http.StatusOK
	if r.location != "" {
		h.Set("Location", r.location)
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}

func (r groupResponse) VisitGetGroupResponse(w http.ResponseWriter) error     { return r.write(w) }
func (r groupResponse) VisitCreateGroupResponse(w http.ResponseWriter) error  { return r.write(w) }
func (r groupResponse) VisitUpdateGroupResponse(w http.ResponseWriter) error  { return r.write(w) }
func (r groupResponse) VisitReplaceGroupResponse(w http.ResponseWriter) error { return r.write(w) }

// bufs recycles response buffers; the writer copies what it is given.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 256<<10 { // keep a rare huge page from pinning memory
		bufs.Put(b)
	}
}

// pageResponse is listGroups' 200.
type pageResponse struct{ p api.GroupPage }

func (r pageResponse) VisitListUserGroupsResponse(w http.ResponseWriter) error {
	return r.VisitListGroupsResponse(w)
}

func (r pageResponse) VisitListGroupsResponse(w http.ResponseWriter) error {
	buf := getBuf()
	defer putBuf(buf)
	b := appendGroupPage((*buf)[:0], &r.p)
	b = append(b, '\n')
	*buf = b
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// appendGroupPage appends the JSON of p, properties in encoding/json's order.
func appendGroupPage(b []byte, p *api.GroupPage) []byte {
	b = append(b, `{"content":`...)
	if p.Content == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range p.Content {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendGroup(b, &p.Content[i])
		}
		b = append(b, ']')
	}
	m := &p.Page
	b = append(b, `,"page":{"next":`...)
	b = appendNullableString(b, m.Next)
	b = append(b, `,"number":`...)
	b = strconv.AppendInt(b, int64(m.Number), 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(m.Size), 10)
	b = append(b, `,"totalElements":`...)
	b = strconv.AppendInt(b, m.TotalElements, 10)
	b = append(b, `,"totalPages":`...)
	b = strconv.AppendInt(b, int64(m.TotalPages), 10)
	return append(b, "}}"...)
}

// appendGroup appends the JSON of g, properties in encoding/json's order.
func appendGroup(b []byte, g *api.Group) []byte {
	b = append(b, `{"archivedAt":`...)
	if g.ArchivedAt.IsNull() {
		b = append(b, "null"...)
	} else {
		b = appendMillis(b, g.ArchivedAt[true])
	}
	b = append(b, `,"createdAt":`...)
	b = appendMillis(b, g.CreatedAt)
	b = append(b, `,"description":`...)
	b = appendNullableString(b, g.Description)
	b = append(b, `,"memberCount":`...)
	b = strconv.AppendInt(b, int64(g.MemberCount), 10)
	b = append(b, `,"name":`...)
	b = appendString(b, g.Name)
	b = append(b, `,"referenceCount":`...)
	b = strconv.AppendInt(b, int64(g.ReferenceCount), 10)
	b = append(b, `,"status":`...)
	b = appendString(b, string(g.Status))
	b = append(b, `,"updatedAt":`...)
	b = appendMillis(b, g.UpdatedAt)
	b = append(b, `,"uuid":`...)
	b = appendUUID(b, g.Uuid)
	return append(b, '}')
}

// appendNullableString encodes as nullable.Nullable's MarshalJSON does:
// null when null, otherwise the value (the zero value when unspecified,
// which toAPI never leaves).
func appendNullableString(b []byte, n nullable.Nullable[string]) []byte {
	if n.IsNull() {
		return append(b, "null"...)
	}
	return appendString(b, n[true])
}

const hexDigits = "0123456789abcdef"

// appendUUID appends u quoted, in uuid.UUID.String's form.
func appendUUID(b []byte, u openapi_types.UUID) []byte {
	b = append(b, '"')
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(b, '"')
}

// appendMillis appends a timestamp in apitime.Layout, quoted.
func appendMillis(b []byte, m apitime.Millis) []byte {
	t := m.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		out, _ := m.MarshalJSON()
		return append(b, out...)
	}
	h, mi, s := t.Clock()
	b = append(b, '"')
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	b = append(b, '.')
	frac := int(t.Nanosecond() / int(time.Millisecond))
	b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return append(b, 'Z', '"')
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendString appends s as a JSON string. Strings that need no escaping
// (the common case) are copied; anything else goes through encoding/json,
// so the escaping is exactly its own (HTML characters, U+2028, invalid
// UTF-8, ...).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendStringSlow(b, s)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return appendStringSlow(b, s)
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStringSlow(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
