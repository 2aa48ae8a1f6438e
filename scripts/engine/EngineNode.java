// Starts OpenSearch nodes through org.codelibs.opensearch.runner.OpenSearchRunner, with two
// things the runner's own main cannot do:
//   * HTTP ports above 9299: the runner refuses any port over its maxHttpPort (9299 by
//     default) and exits 1 without a word, which is why `--port 9400` used to fail;
//   * node settings from system properties: -Dchatsvc.node.<setting>=<value> (a value with
//     commas becomes a list), so one node per process can join others by discovery
//     settings instead of the runner's single-node default.
// Run by scripts/search-engine and scripts/cluster through Java's source launcher
// (java -cp '<runner jars>/*' EngineNode.java <runner arguments>): no build step.
import org.codelibs.opensearch.runner.OpenSearchRunner;

public class EngineNode {
    private static final String PREFIX = "chatsvc.node.";

    public static void main(String[] args) throws Exception {
        OpenSearchRunner runner = new OpenSearchRunner();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try { runner.close(); } catch (Exception ignored) { }
        }));
        runner.setMaxHttpPort(Integer.getInteger("chatsvc.maxHttpPort", 65535));
        runner.onBuild((index, settings) -> {
            for (String name : System.getProperties().stringPropertyNames()) {
                if (!name.startsWith(PREFIX)) continue;
                String value = System.getProperty(name);
                String key = name.substring(PREFIX.length());
                if (value.contains(",")) settings.putList(key, value.split(","));
                else settings.put(key, value);
            }
        });
        try {
            runner.build(args);
        } catch (RuntimeException e) {
            e.printStackTrace();   // the runner's main would exit 1 silently
            System.exit(1);
        }
        while (!runner.isClosed()) Thread.sleep(5000);
    }
}
