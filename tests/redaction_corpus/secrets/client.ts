import axios from "axios";

const apiKey = "AIzaZt4TP96sMHd33ZX0SdMeRJFHmLIvRtv0d1p";
const jwtSecret = 'n5dOGWPBicpgSbBvs8PWoSxnfZ8GgHFgb70yWbOBrHu2eGDE';

export const billing = axios.create({
  baseURL: "https://billing.internal/v1",
  timeout: 5000,
  headers: {
    "X-Api-Key": "ffb1f2c681d8ed9662ae166480033223",
    "Content-Type": "application/json",
  },
});

export const config = {
  sentryDsn: process.env.SENTRY_DSN,
  mapsKey: apiKey,
  auth: {
    clientId: "web-dashboard",
    clientSecret: `rgiq3Ombs7am2MU5hwuVOtRlULVjfijOyIxL9nNM`,
    refreshToken: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4MDQ5MDQ2IiwibmFtZSI6InN2Yy1kZXBsb3kiLCJpYXQiOjE3MTg5NjEzMzIsImV4cCI6MTcxOTQ2ODUzNX0.X07Gt-TFq5EGqvGIihse0i_9wvA9QTpGJh_bQPhUsul",
  },
};

export function sign(payload: object): string {
  return jwt.sign(payload, jwtSecret, { expiresIn: "15m" });
}
