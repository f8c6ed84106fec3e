package fakeaws

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
)

// Error is an AWS error response: HTTP status, error code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// protocol selects how an error is rendered.
type protocol int

const (
	// protoQuery is the awsquery XML of STS and IAM.
	protoQuery protocol = iota
	// protoEC2 is EC2's own XML.
	protoEC2
	// protoJSON is the JSON with x-amzn-ErrorType header of JSON and REST
	// services (API Gateway, Amazon Managed Prometheus, Firehose).
	protoJSON
)

func writeError(w http.ResponseWriter, p protocol, e *Error, requestID string) {
	w.Header().Set("X-Amzn-RequestId", requestID)
	switch p {
	case protoEC2:
		type xmlErr struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		type resp struct {
			XMLName   xml.Name `xml:"Response"`
			Errors    []xmlErr `xml:"Errors>Error"`
			RequestID string   `xml:"RequestID"`
		}
		writeXML(w, e.Status, resp{Errors: []xmlErr{{e.Code, e.Message}}, RequestID: requestID})
	case protoJSON:
		w.Header().Set("X-Amzn-ErrorType", e.Code)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
	default:
		typ := "Sender"
		if e.Status >= 500 {
			typ = "Receiver"
		}
		type xmlErr struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		type resp struct {
			XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
			Error     xmlErr   `xml:"Error"`
			RequestID string   `xml:"RequestId"`
		}
		writeXML(w, e.Status, resp{Error: xmlErr{typ, e.Code, e.Message}, RequestID: requestID})
	}
}

func writeXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "fakeaws: cannot encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}
