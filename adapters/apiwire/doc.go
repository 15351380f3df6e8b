// Package apiwire holds the JSON types of the operator API
// (adapters/httpapi/openapi.yaml), shared by the server (httpapi) and the
// client (apiclient), so that each shape is written once.
//
// The types carry only what is on the wire: the server fills them from
// the domain, the client decodes into them. Field order is the order the
// members are sent in, and omitempty is set where the API leaves a member
// out; both are part of the API. Request types are what the client
// encodes; the server reads the same members one by one, to report every
// problem of a body at once.
package apiwire
