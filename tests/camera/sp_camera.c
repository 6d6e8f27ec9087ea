/*
 * sp_camera: an IP camera stand-in for RTSP tests, on GStreamer's RTSP
 * server library (Debian ships no ready RTSP server binary).
 *
 * Mounts, each one shared media (one pipeline for every client of the
 * mount, like a real camera, so "how many upstream sessions" is a question
 * the camera can answer):
 *   /live  videotestsrc ! x264enc (zerolatency, short GOP) ! rtph264pay,
 *          optional audio (PCMA or AAC) as a second stream
 *   /sub   the same at a lower resolution (-S), like a camera's substream
 *   /clip  an H.264 MP4/MKV file (-c), looped forever: a reader pipeline
 *          demuxes it in real time with segment seeks and feeds the mount's
 *          appsrc, timestamped with the mount's clock, so the mount looks
 *          live (no Range, no seeking that would disturb other viewers).
 *          Clips without B-frames are the safe kind (ffmpeg -bf 0).
 * TCP interleaved and UDP transports; optional Basic or Digest auth.
 *
 * Events are printed one per line on stdout for tests to wait on:
 *   ready port=N | client connected peer=P clients=N | client closed ... |
 *   session new id=I peer=P | setup path=M session=I transport=tcp|udp peer=P |
 *   play path=M session=I | teardown path=M session=I | session removed id=I |
 *   clip looped n=N | status {json}
 * SIGUSR1 prints a "status" line (and rewrites the -s file, which is also
 * rewritten every second): {"seq":N,"clients":N,"mounts":{"/live":
 * {"sessions":N,"playing":N,"medias":N},...}} where sessions counts RTSP
 * sessions set up on the mount, playing those in PLAY state and medias the
 * mount's live pipelines (1 while anyone watches: the media is shared).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

enum { M_LIVE, M_SUB, M_CLIP, M_COUNT };

static const char *const mount_path[M_COUNT] = { "/live", "/sub", "/clip" };

struct cam_opts {
	const char *address;
	int port;
	int width, height, fps, keyint;
	int sub_width, sub_height; /* 0: no /sub */
	const char *audio;	   /* NULL, "pcma" or "aac" */
	const char *clip;	   /* NULL: no /clip */
	const char *user, *password, *auth;
	const char *status_file;
	int session_timeout;	   /* seconds, 0: library default (60) */
	int udp_min, udp_max;	   /* 0: ephemeral ports */
};

/* The looping clip reader and the appsrc of /clip's current media. */
struct clip_feed {
	GstElement *reader;
	GMutex lock;
	GstElement *appsrc; /* ref held; NULL while /clip has no media */
	unsigned gen;	    /* bumped when appsrc changes */
	bool seeked;
	unsigned loops;
};

static struct {
	struct cam_opts o;
	GMainLoop *loop;
	GstRTSPServer *server;
	bool on[M_COUNT];
	gint medias[M_COUNT];
	gint clients;
	unsigned status_seq;
	struct clip_feed clip;
	int exit_code;
} cam;

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* One line per event; several client threads print, so lock stdout. */
static void say(const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	funlockfile(stdout);
}

/* ---- status ---------------------------------------------------------- */

struct count {
	int sessions[M_COUNT], playing[M_COUNT];
	bool seen[M_COUNT]; /* per session being visited */
};

static GstRTSPFilterResult count_media(GstRTSPSession *sess, GstRTSPSessionMedia *sm,
				       gpointer data)
{
	struct count *c = data;
	int matched;

	(void)sess;
	for (int i = 0; i < M_COUNT; i++) {
		if (!gst_rtsp_session_media_matches(sm, mount_path[i], &matched))
			continue;
		if (!c->seen[i])
			c->sessions[i]++;
		c->seen[i] = true;
		if (gst_rtsp_session_media_get_rtsp_state(sm) == GST_RTSP_STATE_PLAYING)
			c->playing[i]++;
	}
	return GST_RTSP_FILTER_KEEP;
}

static GstRTSPFilterResult count_session(GstRTSPSessionPool *pool, GstRTSPSession *sess,
					 gpointer data)
{
	struct count *c = data;

	(void)pool;
	memset(c->seen, 0, sizeof(c->seen));
	gst_rtsp_session_filter(sess, count_media, c);
	return GST_RTSP_FILTER_KEEP;
}

static char *status_json(void)
{
	GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(cam.server);
	struct count c = { 0 };
	GString *s = g_string_new(NULL);
	bool first = true;

	gst_rtsp_session_pool_filter(pool, count_session, &c);
	g_object_unref(pool);
	g_string_append_printf(s, "{\"seq\":%u,\"clients\":%d,\"mounts\":{", ++cam.status_seq,
			       g_atomic_int_get(&cam.clients));
	for (int i = 0; i < M_COUNT; i++) {
		if (!cam.on[i])
			continue;
		g_string_append_printf(s, "%s\"%s\":{\"sessions\":%d,\"playing\":%d,\"medias\":%d}",
				       first ? "" : ",", mount_path[i], c.sessions[i], c.playing[i],
				       g_atomic_int_get(&cam.medias[i]));
		first = false;
	}
	g_string_append(s, "}}");
	return g_string_free(s, FALSE);
}

/* Written to a temporary name and renamed: a reader never sees half a file. */
static void status_write(const char *json)
{
	GError *err = NULL;

	if (!cam.o.status_file)
		return;
	if (!g_file_set_contents(cam.o.status_file, json, -1, &err)) {
		say("error status file %s: %s", cam.o.status_file, err->message);
		g_error_free(err);
	}
}

static gboolean on_tick(gpointer data)
{
	char *json = status_json();

	(void)data;
	status_write(json);
	g_free(json);
	return G_SOURCE_CONTINUE;
}

static gboolean on_usr1(gpointer data)
{
	char *json = status_json();

	(void)data;
	status_write(json);
	say("status %s", json);
	g_free(json);
	return G_SOURCE_CONTINUE;
}

static gboolean on_quit(gpointer data)
{
	(void)data;
	g_main_loop_quit(cam.loop);
	return G_SOURCE_CONTINUE;
}

/* ---- clients and sessions ------------------------------------------- */

static const char *peer_of(GstRTSPClient *client)
{
	const char *p = g_object_get_data(G_OBJECT(client), "sp-peer");

	return p ? p : "?";
}

static const char *session_id(GstRTSPContext *ctx)
{
	return ctx->session ? gst_rtsp_session_get_sessionid(ctx->session) : "-";
}

static const char *ctx_path(GstRTSPContext *ctx)
{
	return ctx->uri && ctx->uri->abspath ? ctx->uri->abspath : "?";
}

static void on_client_closed(GstRTSPClient *client, gpointer data)
{
	int n = g_atomic_int_add(&cam.clients, -1) - 1;

	(void)data;
	say("client closed peer=%s clients=%d", peer_of(client), n);
}

static void on_new_session(GstRTSPClient *client, GstRTSPSession *sess, gpointer data)
{
	(void)data;
	if (cam.o.session_timeout > 0)
		gst_rtsp_session_set_timeout(sess, (guint)cam.o.session_timeout);
	say("session new id=%s peer=%s", gst_rtsp_session_get_sessionid(sess), peer_of(client));
}

static void on_setup(GstRTSPClient *client, GstRTSPContext *ctx, gpointer data)
{
	char *tr = NULL;

	(void)data;
	gst_rtsp_message_get_header(ctx->request, GST_RTSP_HDR_TRANSPORT, &tr, 0);
	say("setup path=%s session=%s transport=%s peer=%s", ctx_path(ctx), session_id(ctx),
	    tr && strstr(tr, "/TCP") ? "tcp" : "udp", peer_of(client));
}

static void on_play(GstRTSPClient *client, GstRTSPContext *ctx, gpointer data)
{
	(void)client;
	(void)data;
	say("play path=%s session=%s", ctx_path(ctx), session_id(ctx));
}

static void on_teardown(GstRTSPClient *client, GstRTSPContext *ctx, gpointer data)
{
	(void)client;
	(void)data;
	say("teardown path=%s session=%s", ctx_path(ctx), session_id(ctx));
}

static void on_session_removed(GstRTSPSessionPool *pool, GstRTSPSession *sess, gpointer data)
{
	(void)pool;
	(void)data;
	say("session removed id=%s", gst_rtsp_session_get_sessionid(sess));
}

static void on_client_connected(GstRTSPServer *server, GstRTSPClient *client, gpointer data)
{
	GstRTSPConnection *conn = gst_rtsp_client_get_connection(client);
	GSocket *sock = conn ? gst_rtsp_connection_get_read_socket(conn) : NULL;
	GSocketAddress *sa = sock ? g_socket_get_remote_address(sock, NULL) : NULL;
	char *peer;
	int n;

	(void)server;
	(void)data;
	if (sa && G_IS_INET_SOCKET_ADDRESS(sa)) {
		GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS(sa);
		char *ip = g_inet_address_to_string(g_inet_socket_address_get_address(isa));

		peer = g_strdup_printf("%s:%u", ip, g_inet_socket_address_get_port(isa));
		g_free(ip);
	} else {
		peer = g_strdup("?");
	}
	if (sa)
		g_object_unref(sa);
	g_object_set_data_full(G_OBJECT(client), "sp-peer", peer, g_free);
	n = g_atomic_int_add(&cam.clients, 1) + 1;
	say("client connected peer=%s clients=%d", peer, n);
	g_signal_connect(client, "closed", G_CALLBACK(on_client_closed), NULL);
	g_signal_connect(client, "new-session", G_CALLBACK(on_new_session), NULL);
	g_signal_connect(client, "setup-request", G_CALLBACK(on_setup), NULL);
	g_signal_connect(client, "play-request", G_CALLBACK(on_play), NULL);
	g_signal_connect(client, "teardown-request", G_CALLBACK(on_teardown), NULL);
}

/* ---- media bookkeeping ---------------------------------------------- */

static void on_media_gone(gpointer data, GObject *media)
{
	(void)media;
	g_atomic_int_add(&cam.medias[GPOINTER_TO_INT(data)], -1);
}

static void clip_attach(GstElement *appsrc)
{
	GstElement *old;

	g_mutex_lock(&cam.clip.lock);
	old = cam.clip.appsrc;
	cam.clip.appsrc = appsrc ? gst_object_ref(appsrc) : NULL;
	cam.clip.gen++;
	g_mutex_unlock(&cam.clip.lock);
	if (old)
		gst_object_unref(old);
}

static void on_clip_unprepared(GstRTSPMedia *media, gpointer data)
{
	(void)media;
	(void)data;
	clip_attach(NULL);
}

static void on_media_configure(GstRTSPMediaFactory *f, GstRTSPMedia *media, gpointer data)
{
	int m = GPOINTER_TO_INT(data);

	(void)f;
	g_atomic_int_add(&cam.medias[m], 1);
	g_object_weak_ref(G_OBJECT(media), on_media_gone, data);
	if (m == M_CLIP) {
		GstElement *bin = gst_rtsp_media_get_element(media);
		GstElement *src = gst_bin_get_by_name_recurse_up(GST_BIN(bin), "clipsrc");

		clip_attach(src);
		if (src)
			gst_object_unref(src);
		gst_object_unref(bin);
		g_signal_connect(media, "unprepared", G_CALLBACK(on_clip_unprepared), NULL);
	}
}

/* ---- the looping clip reader ----------------------------------------- */

/*
 * Runs in the reader's streaming thread, paced by appsink's sync. Buffers
 * keep the reader's running time moved by one offset onto /clip's running
 * time, taken when a new appsrc gets its first keyframe: stamping each
 * buffer with "now" instead would add scheduling jitter, and viewers would
 * see equal or reordered DTS.
 *
 * Loop seams: after a segment seek the demuxer starts the next loop's
 * running time at the last frame's timestamp, not one frame later (and a
 * flushing rewind starts it at 0), so the reader's running time is bent by
 * "seam" to stay one frame duration apart, and appsink's ts-offset follows
 * so that the pacing does not run one frame ahead per loop.
 */
static GstFlowReturn clip_new_sample(GstAppSink *sink, gpointer data)
{
	/* only this streaming thread uses these */
	static unsigned gen_seen;
	static bool synced;
	static gint64 offset, seam;
	static GstClockTime last_t = GST_CLOCK_TIME_NONE, last_dur;
	GstSample *sample = gst_app_sink_pull_sample(sink);
	GstClockTime pts, dts, rt_pts, rt_dts, t;
	const GstSegment *seg;
	GstElement *src = NULL;
	GstBuffer *buf;
	GstClock *clock;
	unsigned gen;

	(void)data;
	if (!sample)
		return GST_FLOW_EOS;
	buf = gst_sample_get_buffer(sample);
	seg = gst_sample_get_segment(sample);
	if (!buf || !seg)
		goto out;
	pts = GST_BUFFER_PTS(buf);
	dts = GST_BUFFER_DTS_OR_PTS(buf);
	if (!GST_CLOCK_TIME_IS_VALID(pts))
		pts = dts;
	rt_pts = gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts);
	rt_dts = gst_segment_to_running_time(seg, GST_FORMAT_TIME, dts);
	if (!GST_CLOCK_TIME_IS_VALID(rt_dts) || !GST_CLOCK_TIME_IS_VALID(rt_pts))
		goto out;
	t = (GstClockTime)((gint64)rt_dts + seam);
	if (GST_CLOCK_TIME_IS_VALID(last_t) && t <= last_t) {
		seam += (gint64)(last_t + last_dur) - (gint64)t;
		g_object_set(sink, "ts-offset", seam, NULL);
		t = last_t + last_dur;
	}
	if (GST_CLOCK_TIME_IS_VALID(last_t))
		last_dur = t - last_t;
	last_t = t;

	g_mutex_lock(&cam.clip.lock);
	src = cam.clip.appsrc ? gst_object_ref(cam.clip.appsrc) : NULL;
	gen = cam.clip.gen;
	g_mutex_unlock(&cam.clip.lock);
	if (gen != gen_seen)
		synced = false;
	gen_seen = gen;
	if (!src)
		goto out;
	clock = gst_element_get_clock(src);
	if (!clock || GST_STATE(src) != GST_STATE_PLAYING) {
		synced = false;
	} else if (synced || !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)) {
		GstBuffer *out = gst_buffer_copy(buf);

		if (!synced) {
			GstClockTime now = gst_clock_get_time(clock) - gst_element_get_base_time(src);
			GstCaps *caps = gst_sample_get_caps(sample);

			offset = (gint64)now - (gint64)t;
			if (caps)
				gst_app_src_set_caps(GST_APP_SRC(src), caps);
			synced = true;
		}
		GST_BUFFER_DTS(out) = (GstClockTime)MAX((gint64)t + offset, 0);
		GST_BUFFER_PTS(out) = (GstClockTime)MAX((gint64)rt_pts + seam + offset, 0);
		gst_app_src_push_buffer(GST_APP_SRC(src), out);
	}
	if (clock)
		gst_object_unref(clock);
out:
	if (src)
		gst_object_unref(src);
	gst_sample_unref(sample);
	return GST_FLOW_OK;
}

static void clip_rewind(GstSeekFlags flush)
{
	if (!gst_element_seek(cam.clip.reader, 1.0, GST_FORMAT_TIME, flush | GST_SEEK_FLAG_SEGMENT,
			       GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE))
		say("clip seek failed");
}

static gboolean on_clip_bus(GstBus *bus, GstMessage *msg, gpointer data)
{
	GError *err = NULL;
	char *dbg = NULL;

	(void)bus;
	(void)data;
	switch (GST_MESSAGE_TYPE(msg)) {
	case GST_MESSAGE_ASYNC_DONE:
		/* prerolled: a segment seek makes the end a SEGMENT_DONE, not EOS */
		if (!cam.clip.seeked) {
			cam.clip.seeked = true;
			clip_rewind(GST_SEEK_FLAG_FLUSH);
			gst_element_set_state(cam.clip.reader, GST_STATE_PLAYING);
		}
		break;
	case GST_MESSAGE_SEGMENT_DONE:
		clip_rewind(0);
		say("clip looped n=%u", ++cam.clip.loops);
		break;
	case GST_MESSAGE_EOS: /* a demuxer without segment seeks */
		clip_rewind(GST_SEEK_FLAG_FLUSH);
		say("clip looped n=%u", ++cam.clip.loops);
		break;
	case GST_MESSAGE_ERROR:
		gst_message_parse_error(msg, &err, &dbg);
		say("error clip %s: %s (%s)", cam.o.clip, err->message, dbg ? dbg : "");
		g_error_free(err);
		g_free(dbg);
		cam.exit_code = 1;
		g_main_loop_quit(cam.loop);
		break;
	default:
		break;
	}
	return G_SOURCE_CONTINUE;
}

static int clip_start(const char *path)
{
	GError *err = NULL;
	GstElement *fsrc, *sink;
	GstBus *bus;

	cam.clip.reader = gst_parse_launch(
		"filesrc name=file ! parsebin ! h264parse config-interval=-1 ! "
		"video/x-h264,stream-format=byte-stream,alignment=au ! "
		"appsink name=sink sync=true max-buffers=8", &err);
	if (!cam.clip.reader) {
		fprintf(stderr, "sp_camera: clip reader: %s\n", err ? err->message : "?");
		g_clear_error(&err);
		return -1;
	}
	fsrc = gst_bin_get_by_name(GST_BIN(cam.clip.reader), "file");
	g_object_set(fsrc, "location", path, NULL);
	gst_object_unref(fsrc);
	sink = gst_bin_get_by_name(GST_BIN(cam.clip.reader), "sink");
	GstAppSinkCallbacks cb = { .new_sample = clip_new_sample };
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, NULL, NULL);
	gst_object_unref(sink);
	bus = gst_element_get_bus(cam.clip.reader);
	gst_bus_add_watch(bus, on_clip_bus, NULL);
	gst_object_unref(bus);
	if (gst_element_set_state(cam.clip.reader, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
		fprintf(stderr, "sp_camera: cannot open clip %s\n", path);
		return -1;
	}
	return 0;
}

/* ---- factories -------------------------------------------------------- */

static char *live_launch(int w, int h)
{
	const struct cam_opts *o = &cam.o;
	int kbps = w * h / 8000 * o->fps;
	const char *audio = "";

	if (kbps < 64)
		kbps = 64;
	if (o->audio && strcmp(o->audio, "pcma") == 0)
		audio = " audiotestsrc is-live=true wave=sine volume=0.1 ! "
			"audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8";
	else if (o->audio && strcmp(o->audio, "aac") == 0)
		audio = " audiotestsrc is-live=true wave=sine volume=0.1 ! "
			"audio/x-raw,rate=16000,channels=1 ! audioconvert ! avenc_aac ! "
			"rtpmp4gpay name=pay1 pt=97";
	return g_strdup_printf(
		"( videotestsrc is-live=true pattern=ball ! "
		"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
		"x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max=%d bitrate=%d ! "
		"video/x-h264,profile=constrained-baseline ! "
		"rtph264pay name=pay0 pt=96 config-interval=-1%s )",
		w, h, o->fps, o->keyint, kbps, audio);
}

static void mount(GstRTSPMountPoints *mp, int m, const char *launch, GstRTSPAddressPool *ports)
{
	GstRTSPMediaFactory *f = gst_rtsp_media_factory_new();

	gst_rtsp_media_factory_set_launch(f, launch);
	gst_rtsp_media_factory_set_shared(f, TRUE);
	gst_rtsp_media_factory_set_protocols(f, GST_RTSP_LOWER_TRANS_TCP | GST_RTSP_LOWER_TRANS_UDP);
	if (ports)
		gst_rtsp_media_factory_set_address_pool(f, ports);
	if (cam.o.user)
		gst_rtsp_media_factory_add_role(f, "viewer",
			GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
			GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
	g_signal_connect(f, "media-configure", G_CALLBACK(on_media_configure), GINT_TO_POINTER(m));
	gst_rtsp_mount_points_add_factory(mp, mount_path[m], f);
	cam.on[m] = true;
}

static int auth_setup(void)
{
	const struct cam_opts *o = &cam.o;
	GstRTSPAuth *auth;
	GstRTSPToken *tok;
	GstRTSPAuthMethod methods;

	if (!o->user)
		return 0;
	if (strcmp(o->auth, "basic") == 0)
		methods = GST_RTSP_AUTH_BASIC;
	else if (strcmp(o->auth, "digest") == 0)
		methods = GST_RTSP_AUTH_DIGEST;
	else if (strcmp(o->auth, "any") == 0)
		methods = GST_RTSP_AUTH_BASIC | GST_RTSP_AUTH_DIGEST;
	else
		return -1;
	auth = gst_rtsp_auth_new();
	tok = gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "viewer", NULL);
	if (methods & GST_RTSP_AUTH_BASIC) {
		char *b = gst_rtsp_auth_make_basic(o->user, o->password);

		gst_rtsp_auth_add_basic(auth, b, tok);
		g_free(b);
	}
	if (methods & GST_RTSP_AUTH_DIGEST)
		gst_rtsp_auth_add_digest(auth, o->user, o->password, tok);
	gst_rtsp_auth_set_supported_methods(auth, methods);
	gst_rtsp_token_unref(tok);
	gst_rtsp_server_set_auth(cam.server, auth);
	g_object_unref(auth);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sp_camera [options]\n"
		"  -p PORT        RTSP port (default 8554; 0 picks one, see the ready line)\n"
		"  -a ADDR        bind address (default 0.0.0.0)\n"
		"  -r WxH         /live resolution (default 320x240)\n"
		"  -f FPS         frame rate (default 15)\n"
		"  -k N           keyframe every N frames at most (default 15)\n"
		"  -S WxH         also serve /sub at this resolution\n"
		"  -A pcma|aac    add an audio stream to /live and /sub\n"
		"  -c FILE        serve this H.264 MP4/MKV on /clip, looped\n"
		"  -u USER -P PASS [-m basic|digest|any]  require auth (default basic)\n"
		"  -s FILE        status file (JSON), rewritten every second and on SIGUSR1\n"
		"  -t SECONDS     RTSP session timeout (default 60)\n"
		"  -U MIN-MAX     UDP server port range (default ephemeral)\n");
}

static bool parse_size(const char *s, int *w, int *h)
{
	return sscanf(s, "%dx%d", w, h) == 2 && *w >= 16 && *h >= 16 && *w <= 4096 && *h <= 4096 &&
	       *w % 2 == 0 && *h % 2 == 0;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

static int parse_opts(int argc, char **argv)
{
	struct cam_opts *o = &cam.o;
	int c;

	*o = (struct cam_opts){ .address = "0.0.0.0", .port = 8554, .width = 320, .height = 240,
				.fps = 15, .keyint = 15, .auth = "basic" };
	while ((c = getopt(argc, argv, "p:a:r:f:k:S:A:c:u:P:m:s:t:U:h")) != -1) {
		bool ok = true;

		switch (c) {
		case 'p': ok = parse_int(optarg, 0, 65535, &o->port); break;
		case 'a': o->address = optarg; break;
		case 'r': ok = parse_size(optarg, &o->width, &o->height); break;
		case 'f': ok = parse_int(optarg, 1, 120, &o->fps); break;
		case 'k': ok = parse_int(optarg, 1, 1000, &o->keyint); break;
		case 'S': ok = parse_size(optarg, &o->sub_width, &o->sub_height); break;
		case 'A':
			o->audio = optarg;
			ok = strcmp(optarg, "pcma") == 0 || strcmp(optarg, "aac") == 0;
			break;
		case 'c': o->clip = optarg; break;
		case 'u': o->user = optarg; break;
		case 'P': o->password = optarg; break;
		case 'm': o->auth = optarg; break;
		case 's': o->status_file = optarg; break;
		case 't': ok = parse_int(optarg, 1, 3600, &o->session_timeout); break;
		case 'U':
			ok = sscanf(optarg, "%d-%d", &o->udp_min, &o->udp_max) == 2 &&
			     o->udp_min > 0 && o->udp_min < o->udp_max && o->udp_max < 65536;
			break;
		case 'h': usage(stdout); exit(0);
		default: ok = false; break;
		}
		if (!ok) {
			fprintf(stderr, "sp_camera: bad value for -%c: %s\n", c, optarg ? optarg : "");
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !o->user != !o->password) {
		fprintf(stderr, "sp_camera: %s\n", optind != argc ? "unexpected argument" :
			"-u and -P go together");
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	GstRTSPMountPoints *mp;
	GstRTSPAddressPool *ports = NULL;
	GstRTSPSessionPool *pool;
	char *launch, *svc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	gst_init(&argc, &argv);
	if (parse_opts(argc, argv) < 0)
		return 2;
	g_mutex_init(&cam.clip.lock);
	cam.loop = g_main_loop_new(NULL, FALSE);
	cam.server = gst_rtsp_server_new();
	gst_rtsp_server_set_address(cam.server, cam.o.address);
	svc = g_strdup_printf("%d", cam.o.port);
	gst_rtsp_server_set_service(cam.server, svc);
	g_free(svc);
	if (auth_setup() < 0) {
		fprintf(stderr, "sp_camera: -m must be basic, digest or any\n");
		return 2;
	}
	if (cam.o.udp_min) {
		ports = gst_rtsp_address_pool_new();
		gst_rtsp_address_pool_add_range(ports, GST_RTSP_ADDRESS_POOL_ANY_IPV4,
						GST_RTSP_ADDRESS_POOL_ANY_IPV4, (guint16)cam.o.udp_min,
						(guint16)cam.o.udp_max, 0);
	}

	mp = gst_rtsp_server_get_mount_points(cam.server);
	launch = live_launch(cam.o.width, cam.o.height);
	mount(mp, M_LIVE, launch, ports);
	g_free(launch);
	if (cam.o.sub_width) {
		launch = live_launch(cam.o.sub_width, cam.o.sub_height);
		mount(mp, M_SUB, launch, ports);
		g_free(launch);
	}
	if (cam.o.clip) {
		if (clip_start(cam.o.clip) < 0)
			return 1;
		mount(mp, M_CLIP, "( appsrc name=clipsrc is-live=true format=time ! h264parse ! "
			  "rtph264pay name=pay0 pt=96 config-interval=-1 )", ports);
	}
	g_object_unref(mp);

	g_signal_connect(cam.server, "client-connected", G_CALLBACK(on_client_connected), NULL);
	pool = gst_rtsp_server_get_session_pool(cam.server);
	g_signal_connect(pool, "session-removed", G_CALLBACK(on_session_removed), NULL);
	g_object_unref(pool);
	if (gst_rtsp_server_attach(cam.server, NULL) == 0) {
		fprintf(stderr, "sp_camera: cannot listen on %s:%d\n", cam.o.address, cam.o.port);
		return 1;
	}
	g_unix_signal_add(SIGUSR1, on_usr1, NULL);
	g_unix_signal_add(SIGTERM, on_quit, NULL);
	g_unix_signal_add(SIGINT, on_quit, NULL);
	if (cam.o.status_file)
		g_timeout_add_seconds(1, on_tick, NULL);
	say("ready port=%d", gst_rtsp_server_get_bound_port(cam.server));
	g_main_loop_run(cam.loop);

	if (cam.clip.reader) {
		gst_element_set_state(cam.clip.reader, GST_STATE_NULL);
		gst_object_unref(cam.clip.reader);
	}
	clip_attach(NULL);
	if (ports)
		g_object_unref(ports);
	g_object_unref(cam.server);
	g_main_loop_unref(cam.loop);
	say("exit code=%d", cam.exit_code);
	return cam.exit_code;
}
