package main

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNextCursor(t *testing.T) {
	cases := []struct {
		body string
		want string
		ok   bool
	}{
		{`{"content":[{"name":"a \"next\":\"x\""}],"page":{"next":"eyJrIjpbXX0","number":0}}`, "eyJrIjpbXX0", true},
		{`{"content":[{"name":"a"}],"page":{"next":null,"number":3}}`, "", true},
		{`{"content":[],"page":{"next":null}}`, "", false},
		{`{"content":[{"name":"a"}],"page":{}}`, "", false},
	}
	for _, c := range cases {
		got, ok := nextCursor([]byte(c.body))
		if got != c.want || ok != c.ok {
			t.Errorf("nextCursor(%s) = %q, %v; want %q, %v", c.body, got, ok, c.want, c.ok)
		}
	}
}

func TestGroupNamesAreUniqueAndFragmentsFit(t *testing.T) {
	seen := map[string]bool{}
	for i := range 200000 {
		n := strings.ToLower(groupName(i))
		if seen[n] {
			t.Fatalf("name %d %q repeats", i, n)
		}
		seen[n] = true
	}
	if a, b := groupName(42), groupName(42); a != b {
		t.Fatal("names must be deterministic")
	}
	w := &worker{env: &env{groups: 1000}, rnd: rand.New(rand.NewPCG(1, 2))}
	for range 1000 {
		f := w.fragment()
		if n := utf8.RuneCountInString(f); n < 3 || n > 6 {
			t.Fatalf("fragment %q has %d characters", f, n)
		}
	}
}

func TestMemberPlanIsSkewedAndDistinct(t *testing.T) {
	p := newMemberPlan(1_000_000, 1_000_000)
	if got := p.total(); got != 1_000_000 {
		t.Fatalf("total = %d, want 1000000", got)
	}
	seen := map[[2]string]bool{}
	perUser, big := map[string]int{}, 0
	for i := range p.total() {
		g, u := p.member(i)
		if g == 0 {
			big++
		}
		key := [2]string{u, strconv.Itoa(g)}
		if seen[key] {
			t.Fatalf("membership %d (%s in %d) repeats", i, u, g)
		}
		seen[key] = true
		perUser[u]++
	}
	if big != 100_000 {
		t.Errorf("big group has %d members, want 100000", big)
	}
	for _, u := range p.heavyUsers() {
		if perUser[u] != 1000 {
			t.Errorf("%s is in %d groups, want 1000", u, perUser[u])
		}
	}
}
