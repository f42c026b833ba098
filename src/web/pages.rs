//! The landing page: sign-in for visitors, the search box for staff.

use askama::Template;
use askama_web::WebTemplate;
use tower_sessions::Session;

use crate::auth::{STAFF_KEY, Staff};

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub staff: Option<Staff>,
    pub version: &'static str,
}

pub async fn index(session: Session) -> IndexPage {
    // A session store hiccup shows the signed-out page rather than an error.
    let staff = session.get::<Staff>(STAFF_KEY).await.ok().flatten();
    IndexPage {
        staff,
        version: env!("CARGO_PKG_VERSION"),
    }
}
