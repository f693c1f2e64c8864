//! `GET /api/v1/openapi.json`: the API description, generated from the handlers.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "securechat", description = "End-to-end encrypted chat server. See docs/API.md."),
    modifiers(&BearerAuth),
    paths(
        super::accounts::register,
        super::accounts::change_password,
        super::accounts::logout,
        super::accounts::delete_account,
        super::recovery::reset_password,
        super::recovery::forgot_password,
        super::server_info::server_info,
        super::token::token,
        super::opaque::register_start,
        super::opaque::login_start,
        super::opaque::confirm,
        super::opaque::password_start,
        super::opaque::password_finish,
        super::opaque::reset_start,
        super::users::list,
        super::users::online,
        super::users::keys,
        super::users::publish_key,
        super::messages::history,
        super::messages::group_history,
        super::files::upload,
        super::files::download,
        super::groups::append,
        super::groups::changes,
        super::groups::my_groups,
        super::ws::upgrade,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        openapi_json,
    )
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
