//! The window's words in English and Simplified Chinese. Every label goes through [`tr`]; the
//! language is the settings' choice, set on the UI thread when the app starts and when it
//! changes (per thread: tests of several screens run side by side). Chinese is drawn with the
//! system's fonts (eframe's system font fallback).

use std::cell::Cell;

use crate::config::Language;

thread_local! {
    static CURRENT: Cell<Language> = const { Cell::new(Language::English) };
}

pub fn set_language(language: Language) {
    CURRENT.set(language);
}

/// `english` in the current language (as it is when there is no translation).
pub fn tr(english: &'static str) -> &'static str {
    if CURRENT.get() == Language::English {
        return english;
    }
    WORDS
        .iter()
        .find(|(en, _)| *en == english)
        .map_or(english, |(_, zh)| zh)
}

/// `english` in the current language with its holes filled from `parts`: `{}` takes the next
/// part, `{N}` part N (a translation's grammar may want them in another order). A hole with
/// no part stays empty.
pub fn tr_fill(english: &'static str, parts: &[&dyn std::fmt::Display]) -> String {
    let template = tr(english);
    let mut filled = String::with_capacity(template.len() + 16);
    let mut next = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let index = match &after[..close] {
            "" => {
                next += 1;
                next - 1
            }
            n => n.parse().unwrap_or(usize::MAX),
        };
        if let Some(part) = parts.get(index) {
            filled.push_str(&part.to_string());
        }
        rest = &after[close + 1..];
    }
    filled.push_str(rest);
    filled
}

const WORDS: &[(&str, &str)] = &[
    ("Your name", "你的名字"),
    ("Invite link", "邀请链接"),
    ("How others see you", "其他人看到的名字"),
    ("Paste the link someone sent you.", "粘贴别人发给你的链接。"),
    (
        "Meetings that run on your own machines.",
        "在你自己的机器上运行的会议。",
    ),
    ("Join", "加入"),
    ("New meeting", "新会议"),
    ("Settings", "设置"),
    ("Recent meetings", "最近的会议"),
    ("Copy link", "复制链接"),
    ("Type your name to join.", "输入你的名字后加入。"),
    (
        "Your meeting is ready. Send this link to the people you invite:",
        "会议已就绪。把这个链接发给你邀请的人：",
    ),
    (
        "Start a meeting on this machine, for the local network",
        "在本机上为局域网开始一个会议",
    ),
    ("Join now", "立即加入"),
    ("Back", "返回"),
    ("Camera", "摄像头"),
    ("Microphone", "麦克风"),
    ("Speaker", "扬声器"),
    ("Camera on when I join", "加入时打开摄像头"),
    ("Microphone on when I join", "加入时打开麦克风"),
    ("Microphone level", "麦克风音量"),
    ("Test speaker", "测试扬声器"),
    ("System default", "系统默认"),
    ("None", "无"),
    ("Test pattern", "测试图案"),
    ("Test tone", "测试音"),
    ("Camera off", "摄像头已关闭"),
    ("Starting the camera…", "正在启动摄像头…"),
    (
        "Joining connects to this server. Join only if you expected this meeting.",
        "加入会连接到这台服务器。只有在你预期这个会议时才加入。",
    ),
    ("Mute", "静音"),
    ("Unmute", "取消静音"),
    ("Stop video", "关闭视频"),
    ("Start video", "开启视频"),
    ("Invite", "邀请"),
    ("Chat", "聊天"),
    ("new", "条新消息"),
    ("People", "参会者"),
    ("Speaker view", "演讲者视图"),
    ("Stats", "统计"),
    ("Leave", "离开"),
    ("Send", "发送"),
    ("Message", "消息"),
    ("Say something to everyone", "对所有人说点什么"),
    ("No messages yet.", "还没有消息。"),
    ("Waiting for others to join…", "正在等待其他人加入…"),
    ("Invite link copied", "邀请链接已复制"),
    ("You", "你"),
    ("Appearance", "外观"),
    ("Like the system", "跟随系统"),
    ("Dark", "深色"),
    ("Light", "浅色"),
    ("Echo cancellation", "回声消除"),
    ("Noise suppression", "降噪"),
    ("Automatic gain", "自动增益"),
    ("Applies from the next meeting.", "从下一次会议开始生效。"),
    ("Video I send", "我发送的视频"),
    ("Low (slow connections)", "低（慢速网络）"),
    ("Standard", "标准"),
    ("High", "高"),
    ("Done", "完成"),
    ("Language", "语言"),
    ("Devices", "设备"),
    (" · muted", " · 已静音"),
    (" · camera off", " · 摄像头已关闭"),
    (" · connecting…", " · 正在连接…"),
    (" · reconnecting…", " · 正在重新连接…"),
    ("layer", "层"),
    (" · weak connection", " · 网络较弱"),
    (" · poor connection", " · 网络很差"),
    ("Room \"{}\" on {}", "{1}上的会议室“{0}”"),
    ("on {}", "服务器：{}"),
    (
        " (local network, unencrypted signaling)",
        "（局域网，信令未加密）",
    ),
    ("{} on {}", "{1}上的{0}"),
    ("This link cannot be used: {}", "这个链接无法使用：{}"),
    ("Guest", "访客"),
    ("{} (you)", "{}（你）"),
    ("Room {}", "会议室 {}"),
    (
        "Your camera is not working ({})",
        "你的摄像头无法工作（{}）",
    ),
    (
        "Your microphone is not working ({})",
        "你的麦克风无法工作（{}）",
    ),
    (
        "Your speaker is not working ({})",
        "你的扬声器无法工作（{}）",
    ),
    (
        "Your camera is not working ({}). The others cannot see you.",
        "你的摄像头无法工作（{}）。其他人看不到你。",
    ),
    (
        "Your microphone is not working ({}). The others cannot hear you; Confer keeps trying to reopen it.",
        "你的麦克风无法工作（{}）。其他人听不到你；Confer 会不断尝试重新打开它。",
    ),
    (
        "Your speaker is not working ({}). Confer keeps trying to reopen it.",
        "你的扬声器无法工作（{}）。Confer 会不断尝试重新打开它。",
    ),
    ("No camera was found.", "未找到摄像头。"),
    ("No microphone was found.", "未找到麦克风。"),
    ("No speaker was found.", "未找到扬声器。"),
    (
        "No camera was found. The others cannot see you.",
        "未找到摄像头。其他人看不到你。",
    ),
    (
        "No microphone was found. The others cannot hear you; Confer keeps looking for one.",
        "未找到麦克风。其他人听不到你；Confer 会继续寻找。",
    ),
    (
        "No speaker was found: you cannot hear the others. Confer keeps looking for one.",
        "未找到扬声器：你听不到其他人。Confer 会继续寻找。",
    ),
    (
        "Turn the microphone on or off; hold Space to talk while muted",
        "打开或关闭麦克风；静音时按住空格键即可说话",
    ),
    ("Turn the camera on or off", "打开或关闭摄像头"),
    ("Raise hand", "举手"),
    ("Lower hand", "放下手"),
    (
        "Let the others see that you want to speak",
        "让其他人看到你想发言",
    ),
    ("Show who is here", "显示参会者"),
    ("Show the chat", "显示聊天"),
    (
        "The one speaking large, the others in a row below",
        "发言者大画面显示，其他人在下方一排",
    ),
    (
        "Each connection's figures: rates, loss, delay, layers",
        "每个连接的数据：码率、丢包、延迟、层级",
    ),
    ("Leave the meeting", "离开会议"),
    ("{} raised their hand", "{}举手了"),
    ("{} joined", "{}加入了会议"),
    (
        "Sounds when someone joins or leaves",
        "有人加入或离开时播放提示音",
    ),
    (
        "Notices when someone joins or leaves",
        "有人加入或离开时显示提示",
    ),
    ("Notifications", "通知"),
    (" · ✋ hand raised", " · ✋ 已举手"),
    ("Copy the invite link", "复制邀请链接"),
    ("{} cannot be reached", "无法连接到{}"),
    ("You joined; {} already here", "你已加入；已有 {} 人在这里"),
    ("Back in the room", "已回到会议室"),
    ("Rejoined; {} here", "已重新加入；这里有 {} 人"),
    ("{} left", "{}已离开"),
    (
        "{} went quiet; looking for a new path",
        "{}没有响应；正在寻找新的连接路径",
    ),
    ("{} is looking for a new path", "{}正在寻找新的连接路径"),
    (
        "{} is back; the connection carried on",
        "{}回来了；连接没有中断",
    ),
    ("{} cannot be reached; dropped", "无法连接到{}；已断开"),
    (
        "Lost the server; trying again in {} s (attempt {})",
        "与服务器的连接已断开；{} 秒后重试（第 {} 次）",
    ),
    (
        "this invite link is not valid or has expired: ask for a new one",
        "这个邀请链接无效或已过期：请索取新的链接",
    ),
    (
        "this meeting is full: try again when someone leaves",
        "这个会议已满：请在有人离开后再试",
    ),
    (
        "Sound and video go through the server {}, which decrypts them (not end to end)",
        "声音和视频经过服务器{}，并在那里解密（不是端到端加密）",
    ),
    (
        "the server has no such room: check the link",
        "服务器上没有这个会议室：请检查链接",
    ),
    (
        "the room's PIN is wrong or missing: check the link",
        "会议室的 PIN 码错误或缺失：请检查链接",
    ),
    (
        "the server speaks another version of Confer: update the app",
        "服务器使用的是另一个版本的 Confer：请更新应用",
    ),
    (
        "Open the meeting \"{}\" on {}? You will leave this one.",
        "打开{1}上的会议“{0}”？你将离开当前会议。",
    ),
    ("Leave and open", "离开并打开"),
    (
        "The meeting's server refused to let you in ({})",
        "会议服务器拒绝了你的加入（{}）",
    ),
    (
        "The meeting's server did not answer. Check the link and your network.",
        "会议服务器没有响应。请检查链接和网络。",
    ),
    (
        "Could not reach the meeting's server ({} attempts). Check the link and your network.",
        "无法连接到会议服务器（尝试了 {} 次）。请检查链接和网络。",
    ),
    (
        "The connection to the meeting's server ended.",
        "与会议服务器的连接已结束。",
    ),
    (
        "The network stopped working for the call.",
        "通话所用的网络已停止工作。",
    ),
    ("Could not start {} ({})", "无法启动{}（{}）"),
    ("the connection to the server", "与服务器的连接"),
    ("the video encoder", "视频编码器"),
    ("the audio", "音频"),
    ("the network", "网络"),
    ("the call", "通话"),
    ("Stay here", "留在这里"),
    ("Share your screen", "共享你的屏幕"),
    (
        "There is nothing to share on this display.",
        "此显示器上没有可以共享的内容。",
    ),
    ("Choose what everyone will see:", "选择大家将看到的内容："),
    ("Cancel", "取消"),
    ("Screen: {}", "屏幕：{}"),
    ("Fit", "适应窗口"),
    ("Show all of the shared screen", "显示整个共享屏幕"),
    (
        "Show the shared screen at its own size",
        "按原始大小显示共享屏幕",
    ),
    (
        "You are sharing your screen with everyone",
        "你正在向所有人共享屏幕",
    ),
    ("Stop sharing", "停止共享"),
    ("Share screen", "共享屏幕"),
    (
        "Show your screen or a window to everyone",
        "向所有人展示你的屏幕或窗口",
    ),
    ("{} is sharing their screen", "{}正在共享屏幕"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_filled_in_order_or_by_number_in_either_language() {
        set_language(Language::SimplifiedChinese);
        let room = tr_fill("Room \"{}\" on {}", &[&"daily", &"example.org"]);
        let left = tr_fill("{} left", &[&"小明"]);
        let full = tr("this meeting is full: try again when someone leaves");
        set_language(Language::English);
        assert_eq!(room, "example.org上的会议室“daily”");
        assert_eq!(left, "小明已离开");
        assert_eq!(full, "这个会议已满：请在有人离开后再试");
        assert_eq!(
            tr_fill("Room \"{}\" on {}", &[&"daily", &"example.org"]),
            "Room \"daily\" on example.org"
        );
        assert_eq!(tr_fill("{} left", &[]), " left");
        assert_eq!(tr_fill("Unknown {} {", &[&1]), "Unknown 1 {");
    }

    #[test]
    fn every_translation_has_the_holes_of_its_english() {
        let holes = |text: &str| text.matches('{').count();
        for (en, zh) in WORDS {
            assert_eq!(holes(en), holes(zh), "{en}");
        }
    }

    #[test]
    fn words_switch_with_the_language_and_unknown_ones_stay() {
        set_language(Language::SimplifiedChinese);
        let (mute, unknown) = (tr("Mute"), tr("No such label"));
        set_language(Language::English);
        assert_eq!(mute, "静音");
        assert_eq!(unknown, "No such label");
        assert_eq!(tr("Mute"), "Mute");
        // Every entry is translated, once.
        for (i, (en, zh)) in WORDS.iter().enumerate() {
            assert_ne!(en, zh);
            assert!(
                WORDS[i + 1..].iter().all(|(other, _)| other != en),
                "{en} twice"
            );
        }
    }
}
