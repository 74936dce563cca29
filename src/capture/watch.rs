//! Background listeners that keep a recording going through what pages do on their own.
//! Input: the page's and the browser's CDP events. Output: dialogs accepted, navigations
//! and crashes on the timeline, a crash flag the steps read, the recorded page kept in
//! front. Invariant: an open JavaScript dialog never stalls the page (it is accepted at
//! once), its text is never recorded, and a window the page opens never takes the
//! screencast from it (a page in the background paints no frames).

use super::clock::Recorder;
use crate::recording::Event;
use chromiumoxide::cdp::browser_protocol::target::EventTargetCreated;
use chromiumoxide::{Browser, Page};
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::page::{EventFrameNavigated, EventJavascriptDialogOpening, HandleJavaScriptDialogParams};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(super) struct Watchers {
    pub(super) crashed: Arc<AtomicBool>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub(super) async fn watch_page(page: &Page, recorder: &Arc<Recorder>) -> Result<Watchers, chromiumoxide::error::CdpError> {
    let crashed = Arc::new(AtomicBool::new(false));
    let mut dialogs = page.event_listener::<EventJavascriptDialogOpening>().await?;
    let mut navigations = page.event_listener::<EventFrameNavigated>().await?;
    let mut crashes = page.event_listener::<EventTargetCrashed>().await?;
    let (dialog_page, dialog_recorder) = (page.clone(), recorder.clone());
    let dialog_task = tokio::spawn(async move {
        while let Some(dialog) = dialogs.next().await {
            let _ = dialog_page.execute(HandleJavaScriptDialogParams::new(true)).await;
            // The dialog's text is the page's; only its kind is recorded.
            dialog_recorder.event(Event::Error { message: format!("the page opened a {:?} dialog; demoreel accepted it", dialog.r#type) });
        }
    });
    let navigation_recorder = recorder.clone();
    let navigation_task = tokio::spawn(async move {
        while let Some(navigated) = navigations.next().await {
            if navigated.frame.parent_id.is_none() {
                navigation_recorder.event(Event::Navigation { url: navigated.frame.url.clone() });
            }
        }
    });
    let (crash_flag, crash_recorder) = (crashed.clone(), recorder.clone());
    let crash_task = tokio::spawn(async move {
        if crashes.next().await.is_some() {
            crash_flag.store(true, Ordering::SeqCst);
            crash_recorder.event(Event::Error { message: "the page's renderer crashed".into() });
        }
    });
    Ok(Watchers { crashed, tasks: vec![dialog_task, navigation_task, crash_task] })
}

/// Brings `page` back to the front whenever another page target appears (a pop-up, a
/// link opened in a new tab), including while the first page is still loading: started
/// before the recorded page navigates, so a pop-up opened by its scripts at load cannot
/// leave the screencast without a first frame.
pub(super) async fn keep_in_front(browser: &Browser, page: &Page) -> Result<tokio::task::JoinHandle<()>, chromiumoxide::error::CdpError> {
    let mut created = browser.event_listener::<EventTargetCreated>().await?;
    let (page, ours) = (page.clone(), page.target_id().clone());
    Ok(tokio::spawn(async move {
        while let Some(target) = created.next().await {
            if target.target_info.r#type != "page" || target.target_info.target_id == ours {
                continue;
            }
            // The new window is activated after it is created: bring ours back now and
            // again once the activation has surely happened.
            for delay_ms in [0, 250] {
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), page.bring_to_front()).await;
            }
        }
    }))
}
