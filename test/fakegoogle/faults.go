package fakegoogle

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// Fault replaces the fake's response to the next requests on a path.
type Fault struct {
	// PathPrefix selects the requests, such as "/v1/token".
	PathPrefix string
	// Times is the number of requests the fault applies to.
	Times int
	// Status and Body form the response.
	Status int
	Body   string
	// Delay holds the response for this long first.
	Delay time.Duration
}

// AddFault queues a fault. Faults apply in the order they were added.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// withFaults responds from the fault queue before next receives the request. A
// faulted request still counts as a request to its endpoint.
func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fault, ok := s.takeFault(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		if strings.HasPrefix(r.URL.Path, "/v1/token") {
			s.stsRequests++
		} else {
			s.iamRequests++
		}
		s.mu.Unlock()
		// Reading the body lets the server notice a client that hangs up,
		// which ends the request's context.
		io.Copy(io.Discard, r.Body)
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		w.Write([]byte(fault.Body))
	})
}

func (s *Server) takeFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.HasPrefix(path, f.PathPrefix) {
			continue
		}
		s.faults[i].Times--
		if s.faults[i].Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f, true
	}
	return Fault{}, false
}
