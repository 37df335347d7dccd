// Package gen is generated from openapi.yaml by oapi-codegen: the Echo
// strict-server interface and the embedded spec. The wire models live in
// gen/api (dot-imported here) so that the Go client does not depend on the
// server. Do not edit the *.gen.go files; change openapi.yaml and run
// `make generate`.
package gen

//go:generate go tool oapi-codegen -config server.cfg.yaml ../openapi.yaml
//go:generate go tool oapi-codegen -config spec.cfg.yaml ../openapi.yaml
