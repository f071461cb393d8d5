package gateway

import (
	"bytes"
	"errors"
	"fmt"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
)

// decodeBody decodes a JSON request body strictly into v: a member name
// given twice, a member v does not have (names match exactly, so "ACTION"
// is not "action"), invalid UTF-8, a wrong type and trailing data are all
// refused, so that what hookwall acts on is what any other reader of the
// body would read. An empty body leaves v as it is when optional is true.
//
// The body is read as sent: a Content-Encoding is not undone.
func decodeBody(c *fiber.Ctx, v any, optional bool) error {
	body := bytes.TrimSpace(c.BodyRaw())
	if len(body) == 0 {
		if optional {
			return nil
		}
		return fmt.Errorf("%w: a JSON body is required", errBadRequest)
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("%w: body: %s", errBadRequest, jsonProblem(err))
	}
	return nil
}

// jsonProblem words a decoding error for a client: what is wrong and where
// (a JSON Pointer), without the Go types it was decoded into.
func jsonProblem(err error) string {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &syn):
		return syn.Err.Error() + at(syn.JSONPointer)
	case errors.As(err, &sem) && errors.Is(err, json.ErrUnknownName):
		return "unknown field" + at(sem.JSONPointer)
	case errors.As(err, &sem) && sem.Err != nil:
		return sem.Err.Error() + at(sem.JSONPointer)
	case errors.As(err, &sem):
		return "a JSON " + kindName(sem.JSONKind) + " is not of the expected type" + at(sem.JSONPointer)
	}
	return err.Error()
}

// at names where in the body a problem is, if anywhere but the top.
func at(p jsontext.Pointer) string {
	if p == "" {
		return ""
	}
	return " at " + string(p)
}

// kindName names a JSON kind as the JSON specification does.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}
