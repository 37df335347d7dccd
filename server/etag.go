package server

import (
	"strconv"
	"strings"

	"github.com/groupsd/groupsd/store"
)

// etag renders a group's version as a strong entity tag.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ows is the optional whitespace around list elements (RFC 9110 5.6.3):
// spaces and tabs only, so a tag followed by, say, U+00A0 stays a different tag.
const ows = " \t"

// ifMatch turns an If-Match header into a store condition (RFC 9110 13.1.1:
// strong comparison, so weak tags never match). nil means no header.
func ifMatch(h *string) *store.Condition {
	if h == nil || strings.Trim(*h, ows) == "" {
		return nil
	}
	if strings.Trim(*h, ows) == "*" {
		return &store.Condition{Any: true}
	}
	c := &store.Condition{Versions: []int64{}}
	for _, tag := range strings.Split(*h, ",") {
		if v, ok := parseStrong(strings.Trim(tag, ows)); ok {
			c.Versions = append(c.Versions, v)
		}
	}
	return c
}

// noneMatch reports whether an If-None-Match header matches version (RFC 9110
// 13.1.2: weak comparison).
func noneMatch(h *string, version int64) bool {
	if h == nil {
		return false
	}
	for _, tag := range strings.Split(*h, ",") {
		tag = strings.Trim(tag, ows)
		if tag == "*" {
			return true
		}
		if v, ok := parseStrong(strings.TrimPrefix(tag, "W/")); ok && v == version {
			return true
		}
	}
	return false
}

func parseStrong(tag string) (int64, bool) {
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64)
	// Entity tags compare character by character (RFC 9110 8.8.3.2): "01"
	// and "+1" are other tags than "1", though ParseInt reads them as 1.
	return v, err == nil && v > 0 && etag(v) == tag
}
