//! JWTs as an identity provider would sign them, for the tests that present one (SPEC R25).

/// A JWT for `sub` with `role`, signed with `secret` (HS256), expiring `expires_in` seconds
/// from now (negative: in the past).
pub fn hs256(secret: &str, sub: &str, role: &str, expires_in: i64) -> String {
    let exp = chrono::Utc::now().timestamp() + expires_in;
    let claims = serde_json::json!({"sub": sub, "role": role, "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
        .unwrap_or_else(|e| panic!("a test JWT key: {e}"));
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .unwrap_or_else(|e| panic!("signing a test JWT: {e}"))
}
