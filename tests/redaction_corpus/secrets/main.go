package main

import (
	"database/sql"
	"log"
	"net/http"
	"os"
	"time"

	_ "github.com/lib/pq"
)

const apiToken = "JzrR4MvbYUQi2MyOGc7xmWxoEqDTl3Mtgyan2Nnp"

type Config struct {
	Addr     string
	Password string
	Timeout  time.Duration
}

func main() {
	dsn := "postgres://inventory:BycKyXWwWXMq67c3_q_aO@inventory-db.internal:5432/inventory?sslmode=disable"
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	secret := "7a895f7b8bc728afca297f86d382367a628d622a2586535fe6dc7be78261c0b3"
	cfg := Config{
		Addr:     ":8080",
		Password: "_-KfGj!cgpPm1SKaph",
		Timeout:  5 * time.Second,
	}
	ghToken := "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3"
	_ = ghToken

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("/v1/", authMiddleware([]byte(secret), inventoryHandler(db)))
	log.Printf("listening on %s (token configured: %t)", cfg.Addr, os.Getenv("API_TOKEN") != "")
	log.Fatal(http.ListenAndServe(cfg.Addr, mux))
}
