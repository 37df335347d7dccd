// Package gen is generated from openapi.yaml by oapi-codegen: the Echo
// strict-server interface. The wire models and the Go client live in gen/api
// (dot-imported here) so that the client does not depend on the server.
//
// oapi-codegen's embedded spec is not generated: it is a re-serialization
// that differs from openapi.yaml (operationIds capitalized, `required: false`
// dropped), so the server validates against and serves the committed file
// itself (package groupsd, spec.go).
//
// Do not edit the *.gen.go files; change openapi.yaml and run `make generate`.
package gen

//go:generate go tool oapi-codegen -config server.cfg.yaml ../openapi.yaml
