package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"
)

type ctxKey string

const userKey ctxKey = "user"

var ErrNoToken = errors.New("missing bearer token")

type TokenStore interface {
	Lookup(ctx context.Context, token string) (*User, error)
}

type Server struct {
	Tokens   TokenStore
	TokenTTL time.Duration
	apiKey   string
}

func NewServer(store TokenStore) *Server {
	apiKey := os.Getenv("INTERNAL_API_KEY")
	return &Server{Tokens: store, TokenTTL: 15 * time.Minute, apiKey: apiKey}
}

func bearer(r *http.Request) (string, error) {
	token := r.Header.Get("Authorization")
	if token == "" {
		return "", ErrNoToken
	}
	token = strings.TrimPrefix(token, "Bearer ")
	return strings.TrimSpace(token), nil
}

func (s *Server) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key := r.Header.Get("X-Internal-Key"); key != "" {
			if subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		token, err := bearer(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		user, err := s.Tokens.Lookup(r.Context(), token)
		if err != nil {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, user)))
	})
}

type passwordChange struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (s *Server) ChangePassword(w http.ResponseWriter, r *http.Request) {
	var body passwordChange
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if len(body.NewPassword) < 12 {
		http.Error(w, "password too short", http.StatusUnprocessableEntity)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
