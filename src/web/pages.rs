//! The landing page.

use askama::Template;
use askama_web::WebTemplate;

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub version: &'static str,
}

pub async fn index() -> IndexPage {
    IndexPage {
        version: env!("CARGO_PKG_VERSION"),
    }
}
