package server_test

import "testing"

// TestFuzzRegressions replays, as ordinary tests, the inputs on which the fuzz
// targets (fuzz_*_test.go) once found a bug. Each case runs on a fresh
// environment with the same checks the fuzz target applies.
func TestFuzzRegressions(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, env *fuzzEnv)
	}{
		{
			// If-Match: "02" spells version 2 but is another entity tag
			// (RFC 9110 8.8.3.2 compares tags character by character).
			name: "IfMatchWithLeadingZeroIsAnotherTag",
			run: func(t *testing.T, env *fuzzEnv) {
				env.updateGroup(t, env.updateSetup(t), fuzzUpdateInput{Name: "0", Mode: 1, IfMatch: `"0{v}"`})
			},
		},
		{
			name: "IfMatchWithPlusSignIsAnotherTag",
			run: func(t *testing.T, env *fuzzEnv) {
				env.updateGroup(t, env.updateSetup(t), fuzzUpdateInput{Name: "Plus", Mode: 1 | 16, IfMatch: `"+{v}"`})
			},
		},
		{
			// Only spaces and tabs surround list elements; U+00A0 is part of
			// the (malformed) tag.
			name: "IfMatchFollowedByNoBreakSpaceIsAnotherTag",
			run: func(t *testing.T, env *fuzzEnv) {
				env.updateGroup(t, env.updateSetup(t), fuzzUpdateInput{Name: "Nbsp", Mode: 1, IfMatch: "{etag}\u00a0"})
			},
		},
		{
			name: "IfMatchWithLeadingZeroOnDeleteIsAnotherTag",
			run: func(t *testing.T, env *fuzzEnv) {
				env.request(t, fuzzRequestInput{Method: "DELETE", Path: "/api/v2/groups/{uuid}", IfMatch: `"0{v}"`, Flags: 4})
				if _, ok := env.row(t, env.anchors[fuzzOrg]); !ok {
					t.Fatal(`DELETE with If-Match "0<version>" deleted the group`)
				}
			},
		},
		{
			name: "IfNoneMatchWithLeadingZeroIsAnotherTag",
			run: func(t *testing.T, env *fuzzEnv) {
				env.request(t, fuzzRequestInput{Method: "GET", Path: "/api/v2/groups/{uuid}", IfNoneMatch: `W/"0{v}"`, Flags: 4})
			},
		},
		{
			// A cursor is base64 JSON a client can edit: a page number past
			// int32 came back as page.number -2147483648.
			name: "CursorPageBeyondInt32IsRejected",
			run: func(t *testing.T, env *fuzzEnv) {
				env.listGroups(t, env.listSetup(t), fuzzListInput{Size: 2, Cursor: `{"p":2147483648}`, Flags: 2 | 64})
			},
		},
		{
			// A body over 1 MiB is 413 on every operation, which openapi.yaml
			// documents only where there is a requestBody.
			name: "OversizedBodyOnDeleteIsDocumented",
			run: func(t *testing.T, env *fuzzEnv) {
				env.undocumented = nil
				env.request(t, fuzzRequestInput{Method: "DELETE", Path: "/v2/groups/{uuid}", IfMatch: "{etag}", Flags: 16})
			},
		},
		{
			// credentials = auth-scheme [ 1*SP token68 ] (RFC 9110 11.4).
			name: "BearerWithTwoSpacesAuthenticates",
			run: func(t *testing.T, env *fuzzEnv) {
				res, _ := env.do(t, fuzzRequest{method: "GET", target: "/api/v2/groups",
					header: [][2]string{{"Authorization", "Bearer  " + env.keys[fuzzOrg]}}})
				fuzzStatusIn(t, env, res, 200)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newFuzzEnv(t))
		})
	}
}
