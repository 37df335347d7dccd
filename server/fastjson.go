package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/store"
)

// The two hottest responses, a group and a page of groups, are written by
// hand instead of through encoding/json's reflection and the models'
// MarshalJSON methods, which cost a third of a list request's CPU. The bytes
// are exactly what the generated responses encode (fastjson_test.go checks
// them against encoding/json): same property order, same escaping, same
// trailing newline.

// groupResponse is a group with its ETag: getGroup's, updateGroup's and
// replaceGroup's 200, and with a Location createGroup's 201.
type groupResponse struct {
	g        store.Group
	etag     string
	location string // set for 201 Created
}

func (r groupResponse) write(w http.ResponseWriter) error {
	buf := getBuf()
	defer putBuf(buf)
	b := append(appendGroup((*buf)[:0], r.g), '\n')
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
type pageResponse struct {
	groups       []store.Group
	size, number int32
	total        int64
	totalPages   int32
	next         string // "" encodes null
}

func (r pageResponse) VisitListGroupsResponse(w http.ResponseWriter) error {
	buf := getBuf()
	defer putBuf(buf)
	b := append((*buf)[:0], `{"content":[`...)
	for i, g := range r.groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendGroup(b, g)
	}
	b = append(b, `],"page":{"next":`...)
	if r.next == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, r.next)
	}
	b = append(b, `,"number":`...)
	b = strconv.AppendInt(b, int64(r.number), 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(r.size), 10)
	b = append(b, `,"totalElements":`...)
	b = strconv.AppendInt(b, r.total, 10)
	b = append(b, `,"totalPages":`...)
	b = strconv.AppendInt(b, int64(r.totalPages), 10)
	b = append(b, "}}\n"...)
	*buf = b
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// appendGroup appends the JSON of toAPI(g).
func appendGroup(b []byte, g store.Group) []byte {
	b = append(b, `{"createdAt":`...)
	b = appendMillis(b, g.CreatedAt)
	b = append(b, `,"description":`...)
	if g.Description == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *g.Description)
	}
	b = append(b, `,"name":`...)
	b = appendString(b, g.Name)
	b = append(b, `,"updatedAt":`...)
	b = appendMillis(b, g.UpdatedAt)
	b = append(b, `,"uuid":"`...)
	if canonicalUUID(g.UUID) {
		b = append(b, g.UUID...)
	} else {
		b = append(b, mustUUID(g.UUID).String()...)
	}
	return append(b, `"}`...)
}

// canonicalUUID reports whether s is already in the form uuid.UUID.String
// gives (lowercase, hyphenated), as the store returns ids.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// appendMillis appends a timestamp in apitime.Layout, quoted.
func appendMillis(b []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return append(append(append(b, '"'), apitime.FromUnixMilli(ms).String()...), '"')
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
