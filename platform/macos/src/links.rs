//! Links macOS hands to the app. A click on a `confer://` link reaches a running app (and an
//! app the click starts) not on its command line but as an Apple Event (`kInternetEventClass`,
//! `kAEGetURL`), which winit does not surface: this installs a handler for it, to be called
//! before the event loop runs so the link a launch came with is not missed. Each link goes to
//! the app's callback as it came: the app judges it like one from a later start.

use std::sync::OnceLock;

use objc2::rc::Retained;
use objc2::runtime::{AnyObject, NSObject};
use objc2::{AnyThread, define_class, msg_send, sel};
use objc2_foundation::{NSAppleEventDescriptor, NSAppleEventManager};

/// 'GURL': both the event class (kInternetEventClass) and the event id (kAEGetURL).
const GET_URL: u32 = u32::from_be_bytes(*b"GURL");
/// '----': the direct object, which holds the link (keyDirectObject).
const DIRECT_OBJECT: u32 = u32::from_be_bytes(*b"----");

/// What a link goes to; set once, before the handler is installed.
type OnLink = Box<dyn Fn(String) + Send + Sync>;
static ON_LINK: OnceLock<OnLink> = OnceLock::new();

define_class!(
    // SAFETY: NSObject has no subclassing requirements, and this class has no Drop.
    #[unsafe(super(NSObject))]
    #[name = "ConferLinkHandler"]
    struct LinkHandler;

    impl LinkHandler {
        #[unsafe(method(handleGetURLEvent:withReplyEvent:))]
        fn handle_get_url(
            &self,
            event: &NSAppleEventDescriptor,
            _reply: &NSAppleEventDescriptor,
        ) {
            let link = event
                .paramDescriptorForKeyword(DIRECT_OBJECT)
                .and_then(|descriptor| descriptor.stringValue())
                .map(|text| text.to_string());
            match (link, ON_LINK.get()) {
                (Some(link), Some(on_link)) => on_link(link),
                (None, _) => tracing::warn!("an Apple Event to open a link came without one"),
                (_, None) => tracing::warn!("an Apple Event link came before its handler was set"),
            }
        }
    }
);

impl LinkHandler {
    fn new() -> Retained<Self> {
        let this = Self::alloc().set_ivars(());
        // SAFETY: NSObject's init, on an object just allocated.
        unsafe { msg_send![super(this), init] }
    }
}

/// Installs the handler for the rest of the process's life; each link goes to `on_link`. A
/// second call does nothing.
pub fn listen_for_links(on_link: impl Fn(String) + Send + Sync + 'static) {
    if ON_LINK.set(Box::new(on_link)).is_err() {
        return;
    }
    // The manager keeps no strong reference to its handlers: this one lives as long as the
    // process.
    let handler: &'static LinkHandler = Box::leak(Box::new(LinkHandler::new()));
    let manager = NSAppleEventManager::sharedAppleEventManager();
    let object: &AnyObject = handler.as_ref();
    // SAFETY: the selector names the method defined above, which takes two descriptors, and
    // the handler outlives every event.
    unsafe {
        manager.setEventHandler_andSelector_forEventClass_andEventID(
            object,
            sel!(handleGetURLEvent:withReplyEvent:),
            GET_URL,
            GET_URL,
        );
    }
    tracing::debug!("listening for links from macOS");
}
