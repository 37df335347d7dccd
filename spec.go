// Package groupsd holds the Groups API v2 contract, openapi.yaml, embedded
// byte for byte so the server can publish exactly what SDKs are generated from.
package groupsd

import _ "embed"

// OpenAPIYAML is openapi.yaml as committed.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
