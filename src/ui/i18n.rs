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
    (" · weak connection", " · 网络较弱"),
    (" · poor connection", " · 网络很差"),
];

#[cfg(test)]
mod tests {
    use super::*;

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
